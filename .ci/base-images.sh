#!/usr/bin/env bash
# Base images for building and running the stack without a container registry.
#
# The Dockerfiles default to the official `python:3.12-slim` and fig.yml to
# `redis:7`.  Where those cannot be pulled (an air-gapped machine, CI here),
# this script makes ONE local Debian image (bookworm unless BASE_SUITE says
# otherwise) with debootstrap that
# serves as both bases: it has python3 + python3-venv + python3-pip (for the
# api/worker builds) and redis-server (for the redis service), plus the host's
# CA bundle so that `pip install` inside a build trusts the same TLS roots as
# the host.
#
#   eval "$(bash .ci/base-images.sh)"     # builds or reuses, then exports
#   docker-compose up -d --build          # uses PYTHON_IMAGE / REDIS_IMAGE
#
# stdout carries only `export NAME=VALUE` lines; progress goes to stderr.
# With `--env-file FILE` the two settings are also written to FILE as
# NAME=VALUE lines (`make base-images` writes .env.local, which the Makefile's
# compose targets then read).
#
# Environment:
#   BASE_SUITE         Debian release to debootstrap (bookworm: python 3.11.2;
#                      trixie: python 3.13)
#   LOCAL_BASE_IMAGE   tag to create (imagecrawler-local/$BASE_SUITE:base)
#   BASE_IMAGE_CACHE   where the rootfs tarball is cached
#                      (/var/cache/imagecrawler/base-images); a second run
#                      with a cached tarball only re-imports it (seconds),
#                      a run that finds the image already in the engine
#                      does nothing
#   DEBIAN_MIRROR      apt mirror for debootstrap (default: the host's)
#   USE_OFFICIAL       1: print the official images if both are already in
#                      the engine, instead of the local one
#   TRY_PULL           1: try `docker pull` of the official images first
#                      (off by default: there is no registry here)
#   FORCE              1: rebuild the rootfs even if cached
set -euo pipefail

BASE_SUITE=${BASE_SUITE:-bookworm}
LOCAL_BASE_IMAGE=${LOCAL_BASE_IMAGE:-imagecrawler-local/$BASE_SUITE:base}
BASE_IMAGE_CACHE=${BASE_IMAGE_CACHE:-/var/cache/imagecrawler/base-images}
OFFICIAL_PYTHON=${OFFICIAL_PYTHON:-python:3.12-slim}
OFFICIAL_REDIS=${OFFICIAL_REDIS:-redis:7}
SUITE=$BASE_SUITE
PACKAGES=python3,python3-venv,python3-pip,ca-certificates,redis-server
HOST_CA=/etc/ssl/certs/ca-certificates.crt

here=$(cd "$(dirname "$0")" && pwd)
log() { printf 'base-images: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
env_file=
while [ $# -gt 0 ]; do
    case "$1" in
        --env-file) env_file=${2:?--env-file needs a file name}; shift 2 ;;
        --env-file=*) env_file=${1#--env-file=}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) printf 'base-images: unknown argument %s\n' "$1" >&2; exit 2 ;;
    esac
done
emit() {
    printf 'export PYTHON_IMAGE=%s\nexport REDIS_IMAGE=%s\n' "$1" "$2"
    if [ -n "$env_file" ]; then
        printf '# written by .ci/base-images.sh\nPYTHON_IMAGE=%s\nREDIS_IMAGE=%s\n' "$1" "$2" > "$env_file"
        log "wrote $env_file"
    fi
}

bash "$here/docker-engine.sh" >&2

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if [ "${TRY_PULL:-0}" = 1 ]; then
    for img in "$OFFICIAL_PYTHON" "$OFFICIAL_REDIS"; do
        have_image "$img" || timeout 120 docker pull -q "$img" >&2 || log "could not pull $img"
    done
fi
if { [ "${USE_OFFICIAL:-0}" = 1 ] || [ "${TRY_PULL:-0}" = 1 ]; } \
        && have_image "$OFFICIAL_PYTHON" && have_image "$OFFICIAL_REDIS"; then
    log "official images present: $OFFICIAL_PYTHON, $OFFICIAL_REDIS"
    emit "$OFFICIAL_PYTHON" "$OFFICIAL_REDIS"
    exit 0
fi

if [ "${FORCE:-0}" != 1 ] && have_image "$LOCAL_BASE_IMAGE"; then
    log "reusing $LOCAL_BASE_IMAGE (already in the engine; FORCE=1 rebuilds)"
    emit "$LOCAL_BASE_IMAGE" "$LOCAL_BASE_IMAGE"
    exit 0
fi

if [ -z "${DEBIAN_MIRROR:-}" ]; then
    if [ -r /etc/apt/sources.list.d/debian.sources ]; then
        DEBIAN_MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "${DEBIAN_MIRROR:-}" ] && [ -r /etc/apt/sources.list ]; then
        DEBIAN_MIRROR=$(awk '$1=="deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
    fi
    DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
fi
[ -r "$HOST_CA" ] || die "no host CA bundle at $HOST_CA (install ca-certificates)"

# The cache key covers everything that goes into the tarball.
key=$( { echo "$SUITE $PACKAGES $DEBIAN_MIRROR v1"; sha256sum < "$HOST_CA"; } | sha256sum | cut -c1-16)
tarball="$BASE_IMAGE_CACHE/rootfs-$SUITE-$key.tar"
mkdir -p "$BASE_IMAGE_CACHE"

if [ "${FORCE:-0}" = 1 ] || [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null 2>&1 || {
        log "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
    }
    rootfs=$(mktemp -d "${TMPDIR:-/tmp}/ic-rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"' EXIT
    log "debootstrap $SUITE from $DEBIAN_MIRROR into $rootfs (about a minute)"
    start=$(date +%s)
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$DEBIAN_MIRROR" \
        > "$BASE_IMAGE_CACHE/debootstrap.log" 2>&1 \
        || { tail -n 30 "$BASE_IMAGE_CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $BASE_IMAGE_CACHE/debootstrap.log)"; }
    cp "$HOST_CA" "$rootfs/etc/ssl/certs/ca-certificates.crt"
    # What a container needs neither of: package caches, docs, man pages.
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
           "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
           "$rootfs"/var/log/*.log "$rootfs"/tmp/* 2>/dev/null || true
    # Containers get their own resolv.conf / hostname / hosts from the engine.
    : > "$rootfs/etc/hostname"
    tar --numeric-owner -C "$rootfs" -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$rootfs"; trap - EXIT
    log "rootfs cached at $tarball ($(du -h "$tarball" | cut -f1), $(( $(date +%s) - start ))s)"
else
    log "using cached rootfs $tarball"
fi

docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap $SUITE minbase + $PACKAGES (.ci/base-images.sh)" \
    "$tarball" "$LOCAL_BASE_IMAGE" >/dev/null
log "imported $LOCAL_BASE_IMAGE ($(docker image inspect -f '{{.Size}}' "$LOCAL_BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
emit "$LOCAL_BASE_IMAGE" "$LOCAL_BASE_IMAGE"
