#!/usr/bin/env bash
# Build the PostgreSQL docker image rowfence/postgres:MAJOR without any image
# registry: debootstrap a minimal Debian with postgresql-MAJOR from Debian's
# archive, add scripts/postgres-entrypoint.sh, and `docker import` the tree.
#
#   scripts/build-image.sh [MAJOR]     MAJOR: 13, 15, 17 (default) or 18
#
# Debian suites: bullseye (13), bookworm (15), trixie (17), sid (18), each
# with its security updates. Does nothing when the tag exists already and was
# built by this revision of the script (set ROWFENCE_REBUILD=1 to rebuild).
# Env contract of the image: see scripts/postgres-entrypoint.sh.
set -euo pipefail

MAJOR="${1:-17}"
MIRROR="${ROWFENCE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${ROWFENCE_DEBIAN_SECURITY_MIRROR:-http://security.debian.org/debian-security}"
TAG="rowfence/postgres:$MAJOR"
# Bump when the image's contents change (2: minor releases from SUITE-security),
# so that an image cached by tag from an older script is rebuilt.
REV=2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { echo "[build-image] $*"; }

case "$MAJOR" in
    13) SUITE=bullseye ;;
    15) SUITE=bookworm ;;
    17) SUITE=trixie ;;
    18) SUITE=sid ;;
    *) echo "build-image: unsupported PostgreSQL major '$MAJOR' (13, 15, 17 or 18)" >&2; exit 2 ;;
esac

if [ "${ROWFENCE_REBUILD:-0}" != 1 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    have=$(docker image inspect -f '{{ index .Config.Labels "org.rowfence.image-rev" }}' "$TAG" 2>/dev/null || true)
    if [ "$have" = "$REV" ]; then
        log "$TAG already exists; skipping build"
        exit 0
    fi
    log "$TAG exists but was built by an older script (rev '${have:-1}', now $REV); rebuilding"
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q debootstrap >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q debootstrap >/dev/null; }
fi

start=$(date +%s)
ROOTFS="$(mktemp -d /var/tmp/rowfence-pg"$MAJOR"-rootfs.XXXXXX)"

cleanup() {
    # debootstrap may leave /proc, /sys or /dev mounted inside the tree when it
    # is interrupted: unmount those (deepest first) before deleting anything,
    # and never let rm cross into another file system.
    local m
    for m in $(awk -v root="$ROOTFS" 'index($2, root "/") == 1 { print $2 }' /proc/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT

log "debootstrap $SUITE with postgresql-$MAJOR into $ROOTFS (log: /tmp/build-image-$MAJOR.log)"
if ! debootstrap --variant=minbase --include="postgresql-$MAJOR" \
        "$SUITE" "$ROOTFS" "$MIRROR" >"/tmp/build-image-$MAJOR.log" 2>&1; then
    tail -n 40 "/tmp/build-image-$MAJOR.log" >&2
    [ -f "$ROOTFS/debootstrap/debootstrap.log" ] && tail -n 40 "$ROOTFS/debootstrap/debootstrap.log" >&2
    exit 1
fi
log "debootstrap done after $(( $(date +%s) - start )) s"

# A suite's main archive keeps the PostgreSQL of its last point release
# (bullseye: 13.16); the minor releases after it, security fixes included,
# are in SUITE-security. Without them the server-version rules (cve_*) fire
# on every schema. sid has no security archive. Set
# ROWFENCE_DEBIAN_SECURITY_MIRROR=none to skip this step.
if [ "$SUITE" != sid ] && [ "$SECURITY_MIRROR" != none ]; then
    log "upgrading from $SUITE-security"
    echo "deb $SECURITY_MIRROR $SUITE-security main" >"$ROOTFS/etc/apt/sources.list.d/security.list"
    # Maintainer scripts must not start services inside the tree.
    printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
    chmod +x "$ROOTFS/usr/sbin/policy-rc.d"
    if ! { chroot "$ROOTFS" apt-get update -q &&
           chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive apt-get -y -q \
               -o Dpkg::Options::=--force-confold upgrade; } >>"/tmp/build-image-$MAJOR.log" 2>&1; then
        tail -n 40 "/tmp/build-image-$MAJOR.log" >&2
        exit 1
    fi
    rm -f "$ROOTFS/usr/sbin/policy-rc.d" "$ROOTFS/etc/apt/sources.list.d/security.list"
fi

PGBIN="/usr/lib/postgresql/$MAJOR/bin"
for f in "$PGBIN/postgres" "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/pg_isready" /usr/bin/psql /usr/bin/setpriv; do
    [ -e "$ROOTFS$f" ] || { echo "build-image: $f missing in the built tree" >&2; exit 1; }
done

# The package's postinst created a default cluster ("main"); the entrypoint
# makes its own in $PGDATA.
rm -rf "$ROOTFS/var/lib/postgresql/$MAJOR" "$ROOTFS/etc/postgresql/$MAJOR"
install -d -m 0700 "$ROOTFS/var/lib/postgresql/data"
chroot "$ROOTFS" chown -R postgres:postgres /var/lib/postgresql
install -d -m 2775 "$ROOTFS/run/postgresql"
chroot "$ROOTFS" chown postgres:postgres /run/postgresql
install -d "$ROOTFS/docker-entrypoint-initdb.d"
install -m 0755 "$here/postgres-entrypoint.sh" "$ROOTFS/usr/local/bin/docker-entrypoint.sh"

# Slim down: package caches, lists, docs, man pages, translations, logs.
rm -rf "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/lib/apt/lists/* \
       "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
       "$ROOTFS"/usr/share/locale/* "$ROOTFS"/usr/share/lintian/* \
       "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/var/lib/dpkg/*-old \
       "$ROOTFS"/var/log/* "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/* "$ROOTFS"/debootstrap
# Drop the LLVM JIT (~150 MB: libLLVM, libz3). Without llvmjit.so postgres
# just reports pg_jit_available() = false and runs every query as with jit=off.
if [ "${ROWFENCE_KEEP_JIT:-0}" != 1 ]; then
    rm -rf "$ROOTFS$PGBIN/../lib/llvmjit.so" "$ROOTFS$PGBIN/../lib/llvmjit_types.bc" \
           "$ROOTFS$PGBIN/../lib/bitcode"
    rm -f "$ROOTFS"/usr/lib/x86_64-linux-gnu/libLLVM*.so* "$ROOTFS"/usr/lib/x86_64-linux-gnu/libz3.so* \
          "$ROOTFS"/usr/lib/llvm-*/lib/libLLVM*.so*
fi
# docker provides /dev, /proc, /sys, /etc/hosts, /etc/resolv.conf itself.
find "$ROOTFS/dev" -mindepth 1 -delete 2>/dev/null || true

log "importing $TAG"
base_id=$(tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    -c 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    -c 'CMD ["postgres"]' \
    -c 'EXPOSE 5432' \
    -c "ENV PATH=$PGBIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    -c "ENV PG_MAJOR=$MAJOR" \
    -c 'ENV PGDATA=/var/lib/postgresql/data' \
    -c 'ENV LANG=C.UTF-8' \
    -m "rowfence: Debian $SUITE minbase + postgresql-$MAJOR (scripts/build-image.sh)" \
    -)

# `docker import -c` refuses STOPSIGNAL, so add it with a metadata-only build
# (no registry needed: FROM is the local image just imported). SIGINT is
# postgres' fast shutdown, as in the official image; with SIGTERM (smart
# shutdown) `docker stop` would wait for every client to disconnect.
if ! printf 'FROM %s\nSTOPSIGNAL SIGINT\nLABEL org.rowfence.image-rev=%s\n' "$base_id" "$REV" |
        DOCKER_BUILDKIT=0 docker build -q -t "$TAG" - >/tmp/build-image-$MAJOR-stopsignal.log 2>&1; then
    log "WARNING: could not set STOPSIGNAL (see /tmp/build-image-$MAJOR-stopsignal.log); docker stop will send SIGTERM" >&2
    docker tag "$base_id" "$TAG"
fi

log "built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}')) in $(( $(date +%s) - start )) s"
