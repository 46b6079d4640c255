#!/bin/sh
# A role that can connect to latchkey's database but has no rights on its
# tables (PUBLIC's CONNECT, the default) must not be able to keep a revoked
# key verifying or stop latchkey's writers:
#  - a flood of unrelated notifications on latchkey_kv sent before a disable
#    does not delay the refusal by a long-lived verifier with a cache (B,
#    tests/pg/fleet.c);
#  - an idle process holding a listener does not stall the server's
#    notification queue (its listener is drained in the background);
#  - pg_advisory_lock() on the key the writers used to take does not block
#    them, and a writer that cannot get the store's write lock fails with a
#    clear error after a timeout instead of hanging.
set -eu
S=${LK_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${LK_BUILDDIR:-$S}
. "$S/tests/pg/verifier.sh"
b_start lk_hostile
# the intruder: may connect (PUBLIC's default), owns nothing, reads nothing
pg_sql lk_hostile "CREATE ROLE intruder LOGIN"
intruder_sql() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U intruder -d lk_hostile -At -c "$1"
}
! intruder_sql "SELECT count(*) FROM latchkey_kv" 2>/dev/null || fail "the intruder can read latchkey_kv"

# flood N: N notifications naming keys latchkey never has (150 bytes each),
# one txn
flood() {
    intruder_sql "SELECT count(pg_notify('latchkey_kv', E'K\\nflood/' || g || '/' || repeat('x', 120)))
        FROM generate_series(1, $1) g" >/dev/null
}
# wait_listener_blocked: until B's listener session waits to write to B
wait_listener_blocked() {
    pg_wait lk_hostile "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN latchkey_kv' AND
        wait_event = 'ClientWrite'" 1 "B's listener session never blocked writing the flood"
}

# ---- a flood queued in front of a disable. B is stopped (SIGSTOP) while
# the flood and then the disable commit, until its listener's session is
# blocked writing the flood to it: the disable's notification is certainly
# behind the flood when B resumes, and B's very next verify must refuse.
# Before the fix B read one ~16 KB piece per verify: 450 KB to 4.5 MB of
# flood made hundreds of verifies allow the disabled key.
expect_exit 0 lk user add 10
for n in 3000 9000 30000; do
    new_key 10
    on_b key "$SID" "$SK" Success 5000
    case $ANS in ok*) ;; *) fail "B: a new key: $ANS" ;; esac
    on_b key "$SID" "$SK" Success 0 # now from B's cache
    case $ANS in ok*) ;; *) fail "B: cached verify: $ANS" ;; esac
    kill -STOP "$DRIVER_PID"
    flood $n
    wait_listener_blocked
    expect_exit 0 lk key disable "$SID"
    kill -CONT "$DRIVER_PID"
    on_b key "$SID" "$SK" AuthFailure.SignatureFailure 0
    case $ANS in
    ok*) note "flood of $n, then a disable: refused at B's next verify" ;;
    *) fail "B after a flood of $n notifications and a disable: $ANS (the disabled key allowed)" ;;
    esac
    expect_exit 0 lk key delete "$SID"
done
note "floods do not delay revocation"

# ---- an idle process's listener is drained: B verifies, then sits idle
# while 100000 notifications (4 MB) arrive. Before the fix nothing read
# B's listener while it was idle: its server session waited in ClientWrite
# for good and the server's notification queue only grew (when full, every
# NOTIFY fails, and with it every latchkey write).
new_key 10
on_b key "$SID" "$SK" Success 5000
on_b key "$SID" "$SK" Success 0
case $ANS in ok*) ;; *) fail "B: cached verify: $ANS" ;; esac
flood 100000
pg_wait lk_hostile "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN latchkey_kv' AND
    wait_event = 'ClientWrite'" 0 "an idle verifier's listener stayed blocked in ClientWrite"
expect_exit 0 lk key disable "$SID"
on_b key "$SID" "$SK" AuthFailure.SignatureFailure 10000
case $ANS in ok*) ;; *) fail "B after idling through a flood: $ANS" ;; esac
note "an idle listener does not stall the server's queue"

# ---- the writers' lock. Before the fix writers took
# pg_advisory_xact_lock(7809643707706734969), which the intruder can take
# too, and waited for it without a timeout: every write hung. Now they lock
# latchkey_schema's row (UPDATE on the table: latchkey's role only) and wait
# at most lock_timeout (300 ms here, from the conninfo; 10 s by default).
b_stop
PG_STORE_CONNINFO="$PG_STORE_CONNINFO options='-c lock_timeout=300'"
write_config "$CFG" postgresql
# hold SQL: a background session running SQL and then sleeping (ended below)
hold() {
    "$PG_BIN/psql" -X -q -h "$PG_DIR" -p "$PG_PORT" -U "$1" -d lk_hostile -c "$2; SELECT pg_sleep(600)" \
        >/dev/null 2>&1 &
    HOLD_PID=$!
    pg_wait lk_hostile "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'" 1 \
        "the session holding a lock did not start"
}
release() {
    pg_sql lk_hostile "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE wait_event = 'PgSleep'" \
        >/dev/null
    wait "$HOLD_PID" 2>/dev/null || :
    HOLD_PID=
}
hold intruder "SELECT pg_advisory_lock(7809643707706734969)"
expect_exit 0 lk key enable "$SID"
expect_exit 0 lk key disable "$SID"
release
# the intruder cannot take the new lock
! intruder_sql "SELECT version FROM latchkey_schema FOR UPDATE" 2>/dev/null || fail "the intruder locked the schema row"
# latchkey's own role holding it (a stuck writer): a clear error, no hang
hold latchkey "BEGIN; SELECT version FROM latchkey_schema FOR UPDATE"
expect_exit 5 lk key enable "$SID"
expect_error FailedOperation.Storage
err_has_str "postgresql store $PG_DIR:$PG_PORT/lk_hostile: the store's write lock was not obtained within 300 ms"
release
expect_exit 0 lk key enable "$SID"
# a version 1 store (not yet upgraded by init) also takes the old lock, for
# the writers of an older latchkey still on it: the intruder can make its
# writes fail, after the timeout, until init upgrades it
pg_sql lk_hostile "UPDATE latchkey_schema SET version = 1"
hold intruder "SELECT pg_advisory_lock(7809643707706734969)"
expect_exit 5 lk key disable "$SID"
err_has_str "the store's write lock was not obtained within 300 ms"
expect_exit 0 lk init
out_has_str "upgraded from version 1"
expect_exit 0 lk key disable "$SID"
release
note "the writers' lock: only latchkey's role takes it, and waits are bounded"
