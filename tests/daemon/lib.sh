# lib.sh — what the latchkeyd end-to-end tests share: a service on a socket
# in a scratch directory, started, reloaded and stopped as an operator would.
# Sourced after tests/e2e/lib.sh; set LOG and SOCK, and call setup_store.
# LATCHKEYD may name another build of the service (e.g. an older one, to see
# a test fail before its fix).

LATCHKEYD=${LATCHKEYD:-$(lk_direct "$LK_BUILDDIR/latchkeyd")}
DRIVER=$(lk_direct "$LK_BUILDDIR/tests/daemon/lkd_driver")
[ -x "$LATCHKEYD" ] && [ -x "$DRIVER" ] || fail "latchkeyd or lkd_driver not built"
LKD_PID=

stop_daemon_on_exit() {
    [ -z "$LKD_PID" ] || kill -9 "$LKD_PID" 2>/dev/null || :
    cleanup
}
trap stop_daemon_on_exit EXIT

# The daemon section; $1: extra lines. Slow enough Argon2id (t=3, 32 MiB)
# that a flood of wrong secrets fills the one-thread pool.
daemon_config() {
    cat >"$CFG" <<EOC
store: {backend: lmdb, path: store.mdb}
hash: {opslimit: 3, memlimit_kib: 32768}
records: {flush_interval_ms: 100}
daemon:
  socket: lkd.sock
  read_timeout_ms: ${READ_TIMEOUT_MS:-300}
  workers: 2
  argon2_workers: 1
  argon2_queue: ${ARGON2_QUEUE:-2}
$1
EOC
}

start_daemon() {
    "$LATCHKEYD" --config "$CFG" 2>>"$LOG" &
    LKD_PID=$!
    _i=0
    until [ -S "$SOCK" ] && "$DRIVER" conns "$SOCK" 1 >/dev/null 2>&1; do
        _i=$((_i + 1))
        [ $_i -lt 100 ] || { cat "$LOG" >&2; fail "latchkeyd did not start"; }
        kill -0 "$LKD_PID" 2>/dev/null || { cat "$LOG" >&2; fail "latchkeyd exited at start"; }
        sleep 0.05
    done
}

stop_daemon() {
    kill -TERM "$LKD_PID"
    wait "$LKD_PID" || fail "latchkeyd exited $? on SIGTERM"
    LKD_PID=
}

reload() {
    daemon_config "$1"
    _n=$(grep -c '^latchkeyd: reloaded' "$LOG" || :)
    kill -HUP "$LKD_PID"
    _i=0
    until [ "$(grep -c '^latchkeyd: reloaded' "$LOG" || :)" -gt "$_n" ]; do
        _i=$((_i + 1))
        [ $_i -lt 100 ] || fail "SIGHUP: no reload: $(tail -n 3 "$LOG")"
        sleep 0.05
    done
}

sockv() { "$LATCHKEY" --socket "$SOCK" "$@"; }
stat_of() { sockv stats | sed -n "s/^$1 //p"; }

# Until file $1 has a line matching $2 (a background driver's progress), at
# most $3 s (generous: only a broken run waits that long).
wait_line() {
    _i=0
    until grep -q "$2" "$1" 2>/dev/null; do
        _i=$((_i + 1))
        [ $_i -lt $(($3 * 10)) ] || fail "no '$2' from a background client: $(cat "$1")"
        sleep 0.1
    done
}

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
# Whether uid 65534 can run the built programs here (root, setpriv, a build
# directory others may read).
nobody_can_run() {
    command -v setpriv >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && as_nobody "$@" >/dev/null 2>&1
}

# A store with user 100 and two keys (SID1/SK1, SID2/SK2), the socket path,
# the default daemon section.
daemon_setup() {
    setup_store lmdb
    SOCK=$DIR/lkd.sock
    daemon_config ""
    expect_exit 0 lk user add 100
    new_key 100
    SID1=$SID SK1=$SK
    new_key 100
    SID2=$SID SK2=$SK
}
