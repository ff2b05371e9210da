#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`: install docker.io and
# docker-compose from Debian if they are missing, start dockerd if no engine
# answers, and wait for it (bounded).  Safe to run again: it changes nothing
# when an engine is already up.
#
#   bash .ci/docker-engine.sh            # install if needed, start, wait
#
# Environment:
#   DOCKERD_LOG      where dockerd logs when this script starts it (/var/log/dockerd.log)
#   DOCKER_WAIT      seconds to wait for `docker info` (60)
#   DOCKERD_FLAGS    extra flags for dockerd (default: an MTU matching the
#                    host's default-route interface, so TLS through the
#                    bridge does not stall on hosts with MTU < 1500)
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
DOCKER_WAIT=${DOCKER_WAIT:-60}

log() { printf 'docker-engine: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $*"; fi
}

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v docker >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || need_pkgs+=(docker-compose)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "installing: ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q "${need_pkgs[@]}" >/dev/null \
        || die "apt-get install ${need_pkgs[*]} failed"
fi

if docker info >/dev/null 2>&1; then
    log "engine already running ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
    exit 0
fi

if [ -z "${DOCKERD_FLAGS+x}" ]; then
    DOCKERD_FLAGS=""
    dev=$(ip route show default 2>/dev/null | awk '{for(i=1;i<NF;i++) if($i=="dev"){print $(i+1); exit}}')
    if [ -n "$dev" ] && [ -r "/sys/class/net/$dev/mtu" ]; then
        mtu=$(cat "/sys/class/net/$dev/mtu")
        if [ "$mtu" -lt 1500 ]; then DOCKERD_FLAGS="--mtu $mtu"; fi
    fi
fi

if pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd process exists but does not answer yet; waiting for it"
else
    log "starting dockerd ${DOCKERD_FLAGS} (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    # setsid: the daemon must outlive this script and its caller's process group.
    # shellcheck disable=SC2086
    as_root setsid dockerd $DOCKERD_FLAGS >>"$DOCKERD_LOG" 2>&1 < /dev/null &
fi

deadline=$(( $(date +%s) + DOCKER_WAIT ))
until docker info >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "last lines of $DOCKERD_LOG:"
        tail -n 30 "$DOCKERD_LOG" >&2 || true
        die "Docker engine did not answer 'docker info' within ${DOCKER_WAIT}s"
    fi
    sleep 1
done
log "engine up: $(docker info --format 'server {{.ServerVersion}}, storage {{.Driver}}')"
