#!/usr/bin/env bash
# Compose v2 (`docker compose`) for a machine whose Debian (12) only ships
# docker-compose 1.29: take the plugin from Debian 13's docker-compose
# package, installed with apt inside a local Debian 13 base image, and keep
# it in a Docker config directory of its own.  Prints that directory, for
#
#   DOCKER_CONFIG=$(bash .ci/compose-v2.sh) docker compose version
#
# Best effort: exits 1 with a message when it cannot, and the caller then
# tests with docker-compose 1.29 alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CONFIG_DIR=${COMPOSE_V2_DIR:-/var/cache/imagecrawler/compose-v2}
plugin=$CONFIG_DIR/cli-plugins/docker-compose
log() { printf 'compose-v2: %s\n' "$*" >&2; }

if [ ! -x "$plugin" ]; then
    image=$(BASE_SUITE=trixie bash "$here/base-images.sh" | sed -n 's/^export PYTHON_IMAGE=//p')
    [ -n "$image" ] || { log "no Debian 13 base image"; exit 1; }
    mkdir -p "$CONFIG_DIR/cli-plugins"
    log "installing Debian 13's docker-compose in $image to take its plugin"
    docker run --rm --network host -v "$CONFIG_DIR/cli-plugins:/out" "$image" sh -c '
        apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null &&
        cp /usr/libexec/docker/cli-plugins/docker-compose /out/' >&2 \
        || { log "could not install docker-compose in $image"; exit 1; }
fi
DOCKER_CONFIG=$CONFIG_DIR docker compose version >&2 || { log "the plugin does not run"; exit 1; }
echo "$CONFIG_DIR"
