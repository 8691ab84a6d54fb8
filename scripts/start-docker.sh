#!/usr/bin/env bash
# Make sure a Docker daemon is running and reachable at the default socket
# (/var/run/docker.sock).
#
# Debian's dockerd (bookworm: 20.10, API 1.41) is used directly: bollard 0.20,
# under testcontainers 0.27, sends requests without an API version prefix, so
# an older daemon answers them as its own version.
#
# Installs Debian's docker.io when dockerd is missing, starts dockerd detached
# (log: /tmp/dockerd.log) and waits up to 60 s. Idempotent: does nothing when
# a daemon answers already.
set -euo pipefail

PUBLIC_SOCK=/var/run/docker.sock

log() { echo "[start-docker] $*"; }

wait_for() {    # wait_for SECONDS CMD...
    local n="$1"; shift
    for _ in $(seq 1 "$n"); do
        "$@" && return 0
        sleep 1
    done
    return 1
}

docker_ok() { docker info >/dev/null 2>&1; }

unset DOCKER_HOST DOCKER_CONTEXT DOCKER_API_VERSION

if command -v docker >/dev/null 2>&1 && docker_ok; then
    log "docker daemon already running"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    log "dockerd not found; installing docker.io"
    # Keep the package's maintainer scripts from starting services on their
    # own: we start dockerd ourselves below.
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        created_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    if ! apt-get install -y -q --no-install-recommends docker.io >/tmp/start-docker-apt.log 2>&1; then
        log "apt-get install failed; running apt-get update and retrying"
        apt-get update -q >>/tmp/start-docker-apt.log 2>&1 || true
        if ! apt-get install -y -q --no-install-recommends docker.io >>/tmp/start-docker-apt.log 2>&1; then
            tail -n 30 /tmp/start-docker-apt.log >&2
            exit 1
        fi
    fi
    if [ "$created_policy" = 1 ]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
    log "installed $(dockerd --version)"
fi

pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
if [ -n "$pid" ] && grep -qa dockerd "/proc/$pid/cmdline" 2>/dev/null; then
    log "dockerd already starting (pid $pid)"
else
    log "starting dockerd (log: /tmp/dockerd.log)"
    # A stale pid file whose pid now belongs to another process would make
    # dockerd refuse to start.
    rm -f /var/run/docker.pid
    # setsid + nohup + own fds: detached from this script and from whatever
    # reads our output, so it survives after we exit.
    # --ip=127.0.0.1: published ports (-p, testcontainers) listen on loopback
    # only; connect to them at 127.0.0.1.
    setsid nohup dockerd --storage-driver=overlay2 --ip=127.0.0.1 -H "unix://$PUBLIC_SOCK" \
        </dev/null >>/tmp/dockerd.log 2>&1 &
fi

if wait_for 60 docker_ok; then
    log "docker ready (daemon $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'), API $(docker version --format '{{.Server.APIVersion}}' 2>/dev/null || echo '?'))"
    exit 0
fi
log "dockerd did not become ready within 60 s; last lines of /tmp/dockerd.log:" >&2
tail -n 30 /tmp/dockerd.log >&2 || true
exit 1
