#!/usr/bin/env bash
# Make sure a Docker daemon is running and reachable at the default socket
# (/var/run/docker.sock) with the API version that testcontainers 0.27 /
# bollard 0.20 pin (1.52, no negotiation).
#
# Debian's dockerd is older than that (bookworm: 20.10, API 1.41), so the
# daemon listens on a private socket ($REAL_SOCK) and scripts/docker-api-proxy.py
# serves /var/run/docker.sock, rewriting too-new "/vX.Y/" request prefixes down
# to the daemon's own version. The docker CLI negotiates and works either way.
#
# Installs Debian's docker.io when dockerd is missing, starts dockerd and the
# proxy detached (logs: /tmp/dockerd.log, /tmp/docker-api-proxy.log) and waits
# up to 60 s. Idempotent: does nothing when all is up already.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQUIRED_API="${ROWFENCE_DOCKER_API:-1.52}"
RUN_DIR=/run/rowfence-docker
REAL_SOCK="$RUN_DIR/dockerd.sock"
PROXY_PID="$RUN_DIR/proxy.pid"
PUBLIC_SOCK=/var/run/docker.sock

log() { echo "[start-docker] $*"; }

docker_ok() {   # default socket answers, also at the pinned API version
    docker info >/dev/null 2>&1 &&
        DOCKER_API_VERSION="$REQUIRED_API" docker version >/dev/null 2>&1
}

wait_for() {    # wait_for SECONDS CMD...
    local n="$1"; shift
    for _ in $(seq 1 "$n"); do
        "$@" && return 0
        sleep 1
    done
    return 1
}

alive() {      # alive PIDFILE NAME: the pid in PIDFILE runs a command containing NAME
    local pid                   # (a zombie's or a reused pid's cmdline won't match)
    pid="$(cat "$1" 2>/dev/null)" || return 1
    [ -n "$pid" ] && grep -qa -- "$2" "/proc/$pid/cmdline" 2>/dev/null
}

unset DOCKER_HOST DOCKER_CONTEXT

if docker_ok; then
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

mkdir -p "$RUN_DIR"

# 1. dockerd on the private socket.
if alive /var/run/docker.pid dockerd; then
    if [ ! -S "$REAL_SOCK" ]; then
        # Someone else's dockerd (on the default socket): leave it alone.
        wait_for 60 docker info >/dev/null 2>&1 || { log "foreign dockerd not answering" >&2; exit 1; }
        log "WARNING: a dockerd not started by this script is running and does not accept" \
            "API $REQUIRED_API; testcontainers will fail against it. Stop it and re-run." >&2
        exit 0
    fi
    log "dockerd already running (pid $(cat /var/run/docker.pid))"
else
    log "starting dockerd (log: /tmp/dockerd.log)"
    # A stale pid file whose pid now belongs to another process would make
    # dockerd refuse to start.
    rm -f "$REAL_SOCK" /var/run/docker.pid
    # setsid + nohup + own fds: detached from this script and from whatever
    # reads our output, so it survives after we exit.
    # --ip=127.0.0.1: published ports (-p, testcontainers) listen on loopback
    # only; connect to them at 127.0.0.1.
    setsid nohup dockerd --storage-driver=overlay2 --ip=127.0.0.1 -H "unix://$REAL_SOCK" \
        </dev/null >>/tmp/dockerd.log 2>&1 &
fi
if ! wait_for 60 docker -H "unix://$REAL_SOCK" info >/dev/null 2>&1; then
    log "dockerd did not become ready within 60 s; last lines of /tmp/dockerd.log:" >&2
    tail -n 30 /tmp/dockerd.log >&2 || true
    exit 1
fi

# 2. The API version shim on the default socket.
if alive "$PROXY_PID" docker-api-proxy; then
    log "docker API proxy already running (pid $(cat "$PROXY_PID"))"
else
    log "starting docker API proxy $PUBLIC_SOCK -> $REAL_SOCK (log: /tmp/docker-api-proxy.log)"
    py=/usr/bin/python3; [ -x "$py" ] || py=python3
    setsid nohup "$py" "$here/docker-api-proxy.py" "$PUBLIC_SOCK" "$REAL_SOCK" \
        </dev/null >>/tmp/docker-api-proxy.log 2>&1 &
    echo $! >"$PROXY_PID"
fi

if wait_for 30 docker_ok; then
    log "docker ready (daemon $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'), clients up to API $REQUIRED_API accepted)"
    exit 0
fi
log "docker not usable at $PUBLIC_SOCK; see /tmp/dockerd.log and /tmp/docker-api-proxy.log" >&2
tail -n 10 /tmp/docker-api-proxy.log >&2 || true
exit 1
