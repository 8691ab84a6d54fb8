#!/bin/bash
# Entrypoint of the rowfence/postgres:MAJOR images (see scripts/build-image.sh).
# Installed in the image as /usr/local/bin/docker-entrypoint.sh.
#
# Follows the env contract of the official postgres image:
#   POSTGRES_PASSWORD          superuser password; required unless
#                              POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_USER              superuser name (default: postgres)
#   POSTGRES_DB                database created at init (default: $POSTGRES_USER)
#   POSTGRES_HOST_AUTH_METHOD  auth for TCP connections (default: scram-sha-256)
#   POSTGRES_INITDB_ARGS       extra initdb arguments (word-split)
#   PGDATA                     data directory (default: /var/lib/postgresql/data)
#   /docker-entrypoint-initdb.d/*.sh|*.sql  run once after init
# Arguments: starting with "-" (or none) -> appended to the postgres command
# line, e.g. `docker run ... rowfence/postgres:17 -c fsync=off`; any other
# command is exec'd as given.
#
# A fresh cluster is created only when $PGDATA has no PG_VERSION. Unix socket
# connections are trusted; TCP from anywhere (0.0.0.0/0, ::/0) needs the
# password. postgres runs in the foreground as PID 1 (SIGTERM: smart shutdown,
# SIGINT: fast shutdown, SIGQUIT: immediate). Once it accepts connections the
# line "database system is ready to accept connections" is on stderr (from
# postgres) and on stdout (from this script), and only then: the temporary
# server used during init logs to a file, not to either stream.
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
SOCKET_DIR=/var/run/postgresql

if [ "$#" -eq 0 ] || [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
    exec "$@"
fi

# --- as root: prepare directories, then re-run this script as postgres -------
if [ "$(id -u)" = 0 ]; then
    install -d -m 0700 -o postgres -g postgres "$PGDATA"
    chmod 0700 "$PGDATA"
    install -d -m 2775 -o postgres -g postgres "$SOCKET_DIR"
    # Only chown a data directory that does not already belong to postgres.
    if [ "$(stat -c %u "$PGDATA")" != "$(id -u postgres)" ]; then
        chown -R postgres:postgres "$PGDATA"
    fi
    exec setpriv --reuid=postgres --regid=postgres --init-groups -- "${BASH_SOURCE[0]}" "$@"
fi

# --- as postgres --------------------------------------------------------------
log() { echo "entrypoint: $*" >&2; }

port="${PGPORT:-5432}"
args=("$@")
for ((i = 1; i < ${#args[@]}; i++)); do   # notice a port given on the command line
    case "${args[i]}" in
        -p) port="${args[i + 1]:-$port}" ;;
        -p*) port="${args[i]#-p}" ;;
        --port=*) port="${args[i]#--port=}" ;;
        port=*) if [ "${args[i - 1]}" = -c ]; then port="${args[i]#port=}"; fi ;;
        -cport=*) port="${args[i]#-cport=}" ;;
    esac
done

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_USER:=postgres}"
    : "${POSTGRES_DB:=$POSTGRES_USER}"
    : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
        cat >&2 <<'EOF'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
       connections without a password. This is *not* recommended.
EOF
        exit 1
    fi

    log "initializing database cluster in $PGDATA (user \"$POSTGRES_USER\")"
    initdb_args=(--username="$POSTGRES_USER" --auth-local=trust
                 --auth-host="$POSTGRES_HOST_AUTH_METHOD" --encoding=UTF8 --locale=C.UTF-8)
    # The password goes through a pipe (printf is a builtin): it never
    # appears on a command line, in the environment of initdb or in a file.
    # (The <(...) must be on initdb's own command line to stay open.)
    # shellcheck disable=SC2086
    if [ -n "${POSTGRES_PASSWORD:-}" ]; then
        initdb "${initdb_args[@]}" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
            ${POSTGRES_INITDB_ARGS:-} >/tmp/initdb.log 2>&1 || initdb_rc=$?
    else
        initdb "${initdb_args[@]}" ${POSTGRES_INITDB_ARGS:-} >/tmp/initdb.log 2>&1 || initdb_rc=$?
    fi
    if [ "${initdb_rc:-0}" != 0 ]; then
        cat /tmp/initdb.log >&2
        exit 1
    fi

    cat >"$PGDATA/pg_hba.conf" <<EOF
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     trust
host    all             all             0.0.0.0/0               $POSTGRES_HOST_AUTH_METHOD
host    all             all             ::/0                    $POSTGRES_HOST_AUTH_METHOD
local   replication     all                                     trust
host    replication     all             0.0.0.0/0               $POSTGRES_HOST_AUTH_METHOD
host    replication     all             ::/0                    $POSTGRES_HOST_AUTH_METHOD
EOF
    {
        echo
        echo "# added by docker-entrypoint.sh"
        echo "listen_addresses = '*'"
        echo "unix_socket_directories = '$SOCKET_DIR'"
    } >>"$PGDATA/postgresql.conf"

    # Temporary server on the unix socket only, for POSTGRES_DB and init scripts.
    need_temp=0
    [ "$POSTGRES_DB" != postgres ] && need_temp=1
    compgen -G '/docker-entrypoint-initdb.d/*' >/dev/null && need_temp=1
    if [ "$need_temp" = 1 ]; then
        if ! pg_ctl -D "$PGDATA" -w -t 60 -l /tmp/postgres-init.log \
                -o "-c listen_addresses='' -p $port" start >/dev/null; then
            cat /tmp/postgres-init.log >&2
            exit 1
        fi
        psql_cmd=(psql -v ON_ERROR_STOP=1 -X -q -h "$SOCKET_DIR" -p "$port"
                  --username "$POSTGRES_USER" --no-password)
        if [ "$POSTGRES_DB" != postgres ]; then
            log "creating database \"$POSTGRES_DB\""
            "${psql_cmd[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
        fi
        for f in /docker-entrypoint-initdb.d/*; do
            case "$f" in
                *.sh)  log "running $f"; . "$f" ;;
                *.sql) log "running $f"; "${psql_cmd[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
                *)     if [ -e "$f" ]; then log "ignoring $f"; fi ;;
            esac
        done
        pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
    log "init done"
fi

# Announce readiness on stdout too (testcontainers waits for the line on both
# streams). This subshell becomes a child of postgres after the exec below and
# must exit with status 0: the postmaster treats any other exit status of a
# child as a backend crash.
(
    trap 'exit 0' TERM INT HUP
    for _ in $(seq 1 6000); do
        if pg_isready -q -h "$SOCKET_DIR" -p "$port" -U "${POSTGRES_USER:-postgres}" -d postgres 2>/dev/null; then
            echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC') [entrypoint] LOG:  database system is ready to accept connections" || true
            exit 0
        fi
        sleep 0.1
    done
    exit 0
) &

exec "$@"
