#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the tests: its own data directory,
# loopback only, trust auth (nothing but this machine can reach it). Prints the
# admin URL on stdout; pass it as TEST_POSTGRES_URL. Usage:
#   export TEST_POSTGRES_URL=$(bash .ci/postgres.sh start)   ...   bash .ci/postgres.sh stop
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
PGPORT=${PGPORT:-54329}
PGDATA=${PGDATA:-/tmp/auth-server-test-pg}
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-start}" in
  start)
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
      mkdir -p "$PGDATA"
      [ "$(id -u)" = 0 ] && chown postgres "$PGDATA"
      as_postgres "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    # Already running (a second start, or a developer's earlier one): reuse it.
    if ! as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
      as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
        -o "-p $PGPORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDATA -c max_connections=300 -c fsync=off" \
        start >/dev/null
    fi
    echo "postgres://postgres@127.0.0.1:$PGPORT/postgres"
    ;;
  stop)
    as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null || true
    ;;
  restart)
    as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w restart >/dev/null
    ;;
  *) echo "usage: $0 start|stop|restart" >&2; exit 2 ;;
esac
