# tests/pg/lib.sh — a private PostgreSQL cluster for the tests (POSIX sh).
#
# pg_start: initdb + pg_ctl in a temp dir, as an unprivileged user (nobody,
# when run as root: the server refuses root), listening only on a unix socket
# in that dir, so it never meets a system cluster or another test's port.
# Sets PG_DIR, PG_PORT, PG_BIN and PG_CONNINFO (database lk_test, superuser
# latchkey, trust auth on the private socket); stops and removes it all at
# exit. PG_SUPER=NAME names the superuser otherwise; PG_AUTH=scram-sha-256
# makes every connection prove a password (the superuser's is in the
# passfile $PGPASSFILE, exported). Exits 77 (automake's skip) with a message
# where PostgreSQL or the backend is absent.
# pg_sql [DB] SQL: run SQL with psql as the cluster's superuser.
# pg_new_db NAME: create a database; prints its conninfo.
# pg_wait DB SQL WANT WHAT: poll SQL (every 50 ms, for up to 20 s) until it
# prints WANT; else fail (tests/e2e/lib.sh) saying WHAT did not happen.
# pg_stop_server / pg_start_server: take the server down and up again (the
# data stays).

PG_BIN=
PG_SUPER=${PG_SUPER:-latchkey}
PG_AUTH=${PG_AUTH:-trust}
for _d in /usr/lib/postgresql/*/bin; do
    [ -x "$_d/initdb" ] && [ -x "$_d/pg_ctl" ] && PG_BIN=$_d
done

pg_skip() {
    echo "SKIP [$(basename "$0" .sh)]: $*"
    exit 77
}

# as_owner CMD...: run as the cluster's owner.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u nobody -- "$@"
    else
        "$@"
    fi
}

pg_cleanup() {
    if [ -n "${PG_DIR:-}" ]; then
        as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || :
        rm -rf "$PG_DIR"
    fi
    # tests/e2e/lib.sh's cleanup, when it was sourced first (one EXIT trap);
    # last, as it may end the script with a failure
    if command -v cleanup >/dev/null 2>&1; then cleanup; fi
}

pg_start_server() {
    as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 30 \
        -o "-k $PG_DIR -c listen_addresses= -p $PG_PORT -c fsync=off" start >/dev/null ||
        { cat "$PG_DIR/log" >&2; return 1; }
}

pg_stop_server() {
    as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m "${1:-fast}" -w stop >/dev/null
}

pg_sql() {
    _db=lk_test
    [ $# -gt 1 ] && { _db=$1; shift; }
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U "$PG_SUPER" -d "$_db" -At -c "$1"
}

pg_wait() {
    _i=0
    until [ "$(pg_sql "$1" "$2")" = "$3" ]; do
        _i=$((_i + 1))
        [ $_i -lt 400 ] || fail "$4"
        sleep 0.05
    done
}

pg_new_db() {
    pg_sql postgres "CREATE DATABASE $1" >/dev/null || return 1
    echo "host=$PG_DIR port=$PG_PORT user=$PG_SUPER dbname=$1"
}

pg_start() {
    [ -n "$PG_BIN" ] || pg_skip "PostgreSQL is not installed (Debian: apt-get install postgresql)"
    [ "${LK_HAVE_POSTGRESQL:-yes}" = yes ] || pg_skip "latchkey was built without the PostgreSQL backend"
    if [ "$(id -u)" = 0 ] && ! command -v runuser >/dev/null; then
        pg_skip "running as root without runuser: cannot start a cluster as an unprivileged user"
    fi
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lk-pg.XXXXXX")
    trap pg_cleanup EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    [ "$(id -u)" = 0 ] && chown nobody "$PG_DIR"
    chmod 700 "$PG_DIR"
    # Only a unix socket, in PG_DIR: the port just names the socket file.
    PG_PORT=$((20000 + $$ % 20000))
    set -- --auth="$PG_AUTH"
    if [ "$PG_AUTH" != trust ]; then
        _pw=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
        printf '%s\n' "$_pw" >"$PG_DIR/superpw"
        [ "$(id -u)" = 0 ] && chown nobody "$PG_DIR/superpw"
        (umask 077 && printf '%s:%s:*:%s:%s\n' "$PG_DIR" "$PG_PORT" "$PG_SUPER" "$_pw" >"$PG_DIR/super.pgpass")
        PGPASSFILE=$PG_DIR/super.pgpass
        export PGPASSFILE
        set -- "$@" --pwfile="$PG_DIR/superpw"
    fi
    as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_SUPER" "$@" -E UTF8 --no-locale \
        >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
    rm -f "$PG_DIR/superpw"
    pg_start_server || exit 1
    PG_CONNINFO=$(pg_new_db lk_test) || exit 1
    pg_new_db lk_empty >/dev/null || exit 1
}
