#!/bin/sh
# Two "machines" on one PostgreSQL store: A is the latchkey tool (a new
# process per command), B a long-lived verifier with its own record cache
# (tests/pg/fleet.c, driven through a pipe), and C latchkeyd with the
# postgresql backend, asked through `latchkey --socket`. Lifecycle done on A
# is seen by B and C as soon as the notification arrives (each wait below
# allows 5 s and prints how long it took); the server killed mid-run
# (pg_ctl stop -m immediate): B fails closed with a store error, recovers
# by itself when the server is back, nothing committed is lost; B's
# listening connection killed alone: a change made meanwhile is seen (its
# cache was dropped).
set -eu
S=${LK_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${LK_BUILDDIR:-$S}
. "$S/tests/pg/verifier.sh"
b_start lk_fleet

# ---- lifecycle on A, seen by B
expect_exit 0 lk user add 10
new_key 10
b_sees "new key verifies" key "$SID" "$SK" Success 5000
on_b key "$SID" "$SK" Success 0 # the second from B's cache
case $ANS in ok*) ;; *) fail "B: cached verify: $ANS" ;; esac
expect_exit 0 lk key disable "$SID"
# a disabled key refuses before the secret is checked, so even the right
# secret gets a wrong secret's answer (issue 19): the code B waits for
b_sees "disabled on A, refused" key "$SID" "$SK" AuthFailure.SignatureFailure 5000
expect_exit 0 lk key enable "$SID"
b_sees "enabled on A, allowed again" key "$SID" "$SK" Success 5000
expect_exit 0 lk key disable "$SID"
b_sees "disabled again" key "$SID" "$SK" AuthFailure.SignatureFailure 5000
expect_exit 0 lk key delete "$SID"
b_sees "deleted on A, unknown" key "$SID" "$SK" AuthFailure.SecretIdNotFound 5000
# a key B has looked up while it did not exist (a cached absence)
new_key 10
b_sees "created on A after B cached nothing for it" key "$SID" "$SK" Success 5000
KEEP_SID=$SID KEEP_SK=$SK

new_apikey 10 fleet
b_sees "API key verifies" api "$AK" Success 5000
expect_exit 0 lk apikey disable "$AKID"
b_sees "API key disabled on A, refused" api "$AK" AuthFailure.SignatureFailure 5000
expect_exit 0 lk apikey enable "$AKID"
b_sees "API key enabled" api "$AK" Success 5000
expect_exit 0 lk apikey disable "$AKID"
expect_exit 0 lk apikey delete "$AKID"
b_sees "API key deleted on A, unknown" api "$AK" AuthFailure.SecretIdNotFound 5000
note "lifecycle on A seen by B"

# ---- a row changed with SQL by hand, announced as the README says
on_b key "$KEEP_SID" "$KEEP_SK" Success 0 # cached
K="convert_to('k/$KEEP_SID', 'UTF8')"
pg_sql lk_fleet "UPDATE latchkey_kv SET key = key || '\\x00'::bytea WHERE key = $K; NOTIFY latchkey_kv, '*'"
b_sees "record moved away by SQL + NOTIFY '*', unknown" key "$KEEP_SID" "$KEEP_SK" AuthFailure.SecretIdNotFound 5000
pg_sql lk_fleet "UPDATE latchkey_kv SET key = $K WHERE key = $K || '\\x00'::bytea; NOTIFY latchkey_kv, '*'"
b_sees "and back, allowed" key "$KEEP_SID" "$KEEP_SK" Success 5000

# ---- one write txn naming more keys than one notification holds (8000
# bytes): store copy --replace of 400 users, announced in several payloads
L=$WORK/lmdb.yaml
write_config "$L" lmdb "$WORK/l.mdb"
CFG=$L
expect_exit 0 lk init
u=2000
while [ $u -lt 2400 ]; do
    lk user add $u >/dev/null 2>&1 || fail "user add $u on LMDB"
    u=$((u + 1))
done
expect_exit 0 lk user add 10
new_key 10
L_SID=$SID L_SK=$SK
CFG=$WORK/a.yaml
on_b key "$L_SID" "$L_SK" AuthFailure.SecretIdNotFound 0 # B caches its absence
case $ANS in ok*) ;; *) fail "B: LMDB's key before the copy: $ANS" ;; esac
on_b key "$KEEP_SID" "$KEEP_SK" Success 0 # and this one's record
expect_exit 0 "$LATCHKEY" store copy --from "$L" --to "$WORK/a.yaml" --replace
b_sees "store copy --replace (400+ keys in one txn): the copied key verifies" key "$L_SID" "$L_SK" Success 5000
b_sees "and the replaced store's key is unknown" key "$KEEP_SID" "$KEEP_SK" AuthFailure.SecretIdNotFound 5000
expect_exit 0 lk user show 2399
KEEP_SID=$L_SID KEEP_SK=$L_SK

# ---- C: latchkeyd on the same store, asked through its socket
mkdir -m 700 "$WORK/lkd"
write_config "$WORK/c.yaml" postgresql "" "daemon: {socket: $WORK/lkd/sock}"
"$B/latchkeyd" --config "$WORK/c.yaml" 2>"$WORK/lkd.log" &
LKD_PID=$!
i=0
until "$LATCHKEY" --socket "$WORK/lkd/sock" stats >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 100 ] || { cat "$WORK/lkd.log" >&2; fail "latchkeyd did not start"; }
    sleep 0.05
done
expect_exit 0 lk user add 11
new_key 11
C_SID=$SID C_SK=$SK
expect_exit_in "$C_SK" 0 "$LATCHKEY" --socket "$WORK/lkd/sock" verify "$C_SID"
expect_exit 0 lk key disable "$C_SID"
i=0
until printf '%s' "$C_SK" | "$LATCHKEY" --socket "$WORK/lkd/sock" verify "$C_SID" >/dev/null 2>&1; [ $? = 3 ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "latchkeyd still allows a key disabled on A"
    sleep 0.05
done
note "disabled on A, refused by latchkeyd (attempt $((i + 1)))"

# ---- the server killed mid-run
expect_exit 0 lk user add 12 # committed just before the crash
new_key 12
pg_stop_server immediate
for n in 1 2 3; do
    on_b key "$KEEP_SID" "$KEEP_SK" FailedOperation.Storage 0
    case $ANS in ok*) ;; *) fail "B during the outage (try $n): $ANS (must fail closed)" ;; esac
done
printf '%s' "$KEEP_SK" | "$LATCHKEY" --socket "$WORK/lkd/sock" verify "$KEEP_SID" >/dev/null 2>&1 &&
    fail "latchkeyd allowed during the outage"
printf '%s' "$KEEP_SK" | "$LATCHKEY" --socket "$WORK/lkd/sock" verify "$KEEP_SID" >/dev/null 2>&1 &&
    fail "latchkeyd allowed during the outage (again)"
# the outage is logged once, however many requests fail on it
[ "$(grep -c '^latchkeyd: error: the store is unavailable: ' "$WORK/lkd.log")" = 1 ] ||
    fail "latchkeyd's log: the outage not logged once: $(grep -c 'store is unavailable' "$WORK/lkd.log") lines"
expect_exit 5 lk key disable "$KEEP_SID"
expect_error FailedOperation.Storage
note "server down: B, latchkeyd and the tool fail closed"
pg_start_server
b_sees "server back, B verifies again" key "$KEEP_SID" "$KEEP_SK" Success 10000
expect_exit 0 lk --json key list 12
out_has_str "$SID"
expect_exit 0 lk key disable "$KEEP_SID"
b_sees "disabled after the restart, refused" key "$KEEP_SID" "$KEEP_SK" AuthFailure.SignatureFailure 5000
expect_exit 0 lk key enable "$KEEP_SID"
b_sees "enabled after the restart" key "$KEEP_SID" "$KEEP_SK" Success 5000
expect_exit_in "$KEEP_SK" 0 "$LATCHKEY" --socket "$WORK/lkd/sock" verify "$KEEP_SID"
expect_exit_in "$KEEP_SK" 0 "$LATCHKEY" --socket "$WORK/lkd/sock" verify "$KEEP_SID"
[ "$(grep -c '^latchkeyd: the store answers again, after [0-9]* s ([0-9]* failures meanwhile)$' "$WORK/lkd.log")" = 1 ] ||
    fail "latchkeyd's log: the recovery not logged once: $(grep 'store' "$WORK/lkd.log")"
note "server back: B and latchkeyd recovered, no committed change lost; latchkeyd logged the outage and its end once each"

# ---- B's listener killed alone: the change made meanwhile is seen
on_b key "$KEEP_SID" "$KEEP_SK" Success 0 # cached
n=$(pg_sql lk_fleet "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = 'LISTEN latchkey_kv'")
[ "$n" -ge 2 ] || fail "expected the listeners of B and latchkeyd, found $n"
# the listener's session is gone: its notification cannot reach B
expect_exit 0 lk key disable "$KEEP_SID"
on_b key "$KEEP_SID" "$KEEP_SK" AuthFailure.SignatureFailure 0
case $ANS in ok*) ;; *) fail "B after losing its listener: $ANS (a stale cached allow)" ;; esac
# B listens again after its backoff (50 ms), at a verify
i=0
while :; do
    on_b key "$KEEP_SID" "$KEEP_SK" AuthFailure.SignatureFailure 0
    case $ANS in ok*) ;; *) fail "B while its listener is down: $ANS" ;; esac
    n=$(pg_sql lk_fleet "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN latchkey_kv'")
    [ "$n" -ge 1 ] && break
    i=$((i + 1))
    [ $i -lt 100 ] || fail "B's listener did not come back"
    sleep 0.05
done
expect_exit 0 lk key enable "$KEEP_SID"
b_sees "listener reconnected, changes seen again" key "$KEEP_SID" "$KEEP_SK" Success 5000
note "listener lost: cache dropped, read through, listening again"

b_stop
