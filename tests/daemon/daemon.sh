#!/bin/sh
# daemon.sh — latchkeyd end to end: the service on a socket in a scratch
# directory; clients are `latchkey --socket`, examples/host through the
# dlopen ABI ("unix:PATH") and tests/daemon/lkd_driver (raw connections,
# floods, a long-lived client). The admin tool changes the store in-process
# meanwhile, as an operator would.
. "$(dirname "$0")/../e2e/lib.sh"

HOST=$LK_BUILDDIR/examples/host
MODULE=$LK_BUILDDIR/.libs/latchkey_plugin.so
TESTNAME=daemon
BACKEND=lmdb
LOG=$WORK/cap/latchkeyd.log
. "$(dirname "$0")/lib.sh"

daemon_setup
new_apikey 100 daemon-test --scope cvm --allow-ip 10.0.0.0/8

start_daemon
note "started"

# ------------------------------------------------------------ verify through the socket
expect_exit_in "$SK1" 0 sockv verify "$SID1"
out_has "^Result: *Allow"
[ "$(stat_of Argon2Verifies)" = 1 ] || fail "first verify: Argon2Verifies $(stat_of Argon2Verifies), expected 1"
expect_exit_in "$SK1" 0 sockv verify "$SID1"
[ "$(stat_of Argon2Verifies)" = 1 ] || fail "second verify of the same key cost an Argon2id"
[ "$(stat_of CacheHits)" = 1 ] || fail "second verify was not a cache hit"
note "second verify: no Argon2id (service counters)"

expect_exit_in "$SK2" 3 sockv verify "$SID1"
expect_error AuthFailure.SignatureFailure
expect_exit_in "$SK1" 3 sockv verify AKIDnotakey
expect_error AuthFailure.InvalidSecretId
expect_exit_in "$AK" 0 sockv verify --apikey --ip 10.1.2.3 --service cvm
expect_exit_in "$AK" 3 sockv verify --apikey --ip 192.0.2.1 --service cvm
expect_error AuthFailure.SignatureFailure # refused before the secret is checked (issue 19)
expect_exit 0 sockv key show "$SID1"
out_has "^Status: *Active"
expect_exit 2 sockv user list
expect_error InvalidParameter.ParamError
err_has "^latchkey: InvalidParameter.ParamError: user list is not available with --socket; run it on the store.s machine without --socket$"
# scan --disable proves a find against the store's hash: not through the
# service, and said so (never taken for a forged value)
printf 'id=%s\nkey=%s\n' "$SID1" "$SK1" >"$WORK/cap/leak.txt"
expect_exit 2 sockv scan --disable "$WORK/cap/leak.txt"
err_has "scan is not available with --socket"
out_lacks_str ForgedOrRotated
# import writes in one transaction of the store: not through the service
printf 'type,uin\nuser,777\n' >"$WORK/cap/import.csv"
expect_exit 2 sockv import "$WORK/cap/import.csv"
err_has "^latchkey: InvalidParameter.ParamError: import is not available with --socket; run it on the store.s machine without --socket$"

# the dlopen ABI: "unix:PATH" and a bare socket path
if [ -f "$MODULE" ] && [ -x "$HOST" ]; then
    expect_exit_in "$SK1" 0 "$HOST" "$MODULE" "unix:$SOCK" secretid "$SID1"
    out_has "allowed uin=100"
    expect_exit_in "$SK2" 3 "$HOST" "$MODULE" "$SOCK" secretid "$SID1"
    expect_exit_in "$SK1" 0 "$HOST" --threads 4 --fork "$MODULE" "unix:$SOCK" secretid "$SID1"
    note "dlopen host through the socket (threads, fork)"
fi

# ------------------------------------------------------------ a disable by the admin tool
expect_exit 0 lk key disable "$SID1"
expect_exit_in "$SK1" 3 sockv verify "$SID1"
expect_error AuthFailure.SignatureFailure # the right secret: refused before it is checked (issue 19)
expect_exit 0 lk key enable "$SID1"
expect_exit_in "$SK1" 0 sockv verify "$SID1"
note "disable in-process honoured at the next request"

# ------------------------------------------------------------ key lifecycle through the service
# an expiry set in-process is honoured on the service's warm (cached) path
# (--expires takes only a future time: one second ahead, then wait for the
# clock to pass it; under load this waits longer, it never fails sooner)
expire_at=$(( $(date +%s) + 2 ))
expect_exit 0 lk key edit "$SID1" --expires 1s
while [ "$(date +%s)" -le "$expire_at" ]; do sleep 0.2; done
expect_exit_in "$SK1" 3 sockv verify "$SID1"
expect_error 'AuthFailure\.SecretIdExpired'
expect_exit 0 sockv key show "$SID1"
out_has '^ExpireTime: *20[0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]'
expect_exit 0 lk key edit "$SID1" --expires never
expect_exit_in "$SK1" 0 sockv verify "$SID1"
# a request limit counts across every client of the one service
new_apikey 100 limited --rate-limit 3/1h
AKL=$AK
for _c in 1 2 3; do expect_exit_in "$AKL" 0 sockv verify --apikey; done
expect_exit_in "$AKL" 3 sockv verify --apikey
expect_error 'LimitExceeded\.RequestLimit'
expect_exit 0 sockv apikey show "$AKID"
out_has '^RateLimit: *3/3600s$'
# ... while a process that opens the store itself counts on its own
expect_exit_in "$AKL" 0 lk verify --apikey
note "expiry on the cached path; a request limit exact across the service's clients"

# access records are written by the service's flusher, off the request path
sleep 0.4
expect_exit 0 lk records "$SID1"
out_has "AuthFailure.SecretIdDisabled"
out_has "Success"

# ------------------------------------------------------------ hostile clients, many clients
run_in "$SK2" "$DRIVER" hostile "$SOCK" 300 "$SID1"
[ "$RC" = 0 ] || fail "hostile clients: $OUT"
note "hostile clients: $(printf '%s\n' "$OUT" | grep -c '^ok') cases ok"
run "$DRIVER" conns "$SOCK" 1000
[ "$RC" = 0 ] || fail "1000 concurrent connections: $OUT"
note "1000 concurrent connections: $OUT"
# The driver has closed them; the service reaps them as its workers see each
# end of stream. Until it has, a new client may find daemon.max_connections
# (1024) or the descriptor limit reached and be refused: wait for the
# service's descriptors to fall back (CI saw the next step refused, under
# strace, in distcheck's run).
_i=0
until [ "$(ls "/proc/$LKD_PID/fd" 2>/dev/null | wc -l)" -lt 100 ]; do
    _i=$((_i + 1))
    [ $_i -lt 1200 ] || fail "latchkeyd still holds $(ls "/proc/$LKD_PID/fd" | wc -l) descriptors 60 s after 1000 clients closed"
    sleep 0.05
done

# ------------------------------------------------------------ one send per turn (issue 22)
# The answers to requests that came in one read leave in one send: 20 PINGs
# in one write cost the service 2 sends (the handshake's, then one for the
# 20), not 21. Counted with strace where it may attach to the service.
if command -v strace >/dev/null 2>&1; then
    strace -f -e trace=sendto -o "$WORK/sends" -p "$LKD_PID" 2>"$WORK/strace.err" &
    _tracer=$!
    _i=0
    until grep -q attached "$WORK/strace.err" 2>/dev/null || ! kill -0 "$_tracer" 2>/dev/null || [ $_i -ge 400 ]; do
        _i=$((_i + 1))
        sleep 0.05
    done
    if grep -q attached "$WORK/strace.err" 2>/dev/null && kill -0 "$_tracer" 2>/dev/null; then
        run "$DRIVER" batch "$SOCK" 20
        [ "$RC" = 0 ] || fail "20 PINGs in one write: $OUT"
        kill -TERM "$_tracer"
        wait "$_tracer" || : # strace ends on the signal
        _n=$(grep -c 'sendto(' "$WORK/sends")
        [ "$_n" = 2 ] || fail "20 PINGs in one write: $_n sends by the service, expected 2 (the handshake's, then one)"
        note "20 PINGs in one write: answered in one send (after the handshake's)"
    else
        kill "$_tracer" 2>/dev/null
        wait "$_tracer" 2>/dev/null || :
        note "strace cannot attach to latchkeyd here: one send per turn not checked"
    fi
fi

# a broken configuration at SIGHUP is refused; the service keeps running
printf 'daemon:\n  workers: many\n' >"$CFG"
kill -HUP "$LKD_PID"
_i=0
until grep -q 'reload refused, keeping the running configuration: .*latchkey.yaml:2: daemon.workers' "$LOG"; do
    _i=$((_i + 1))
    [ $_i -lt 100 ] || fail "SIGHUP with a broken config: $(tail -n 3 "$LOG")"
    sleep 0.05
done
expect_exit_in "$SK1" 0 sockv verify "$SID1"
note "a broken config at SIGHUP is refused with file:line, the service keeps serving"

# an idle connection is closed after idle_timeout_s (and not before the read timeout)
reload "  idle_timeout_s: 1"
run "$DRIVER" idle "$SOCK" 2500
[ "$RC" = 0 ] || fail "idle connection: $OUT"
printf '%s\n' "$OUT" | grep -Eq 'closed after (9[0-9][0-9]|1[0-9]{3}|2[0-4][0-9]{2}) ms' || fail "idle timeout: $OUT"
note "idle timeout: $OUT"

# a service that stops answering: the client's read times out and fails closed
kill -STOP "$LKD_PID"
_t0=$(date +%s)
expect_exit_in "$SK1" 5 sockv verify "$SID1"
_t=$(($(date +%s) - _t0))
kill -CONT "$LKD_PID"
expect_error FailedOperation.Storage
err_has "no answer in time"
[ "$_t" -ge 14 ] && [ "$_t" -le 20 ] || fail "client read timeout took $_t s, expected 15"
expect_exit_in "$SK1" 0 sockv verify "$SID1"
note "stopped service: the client gave up after $_t s (fail closed), then served again"

# ------------------------------------------------------------ busy: the Argon2id queue is full
reload "  throttle_failures: 0"
run_in random "$DRIVER" flood "$SOCK" "$SID1" 16 3
printf '%s\n' "$OUT" | grep -q '^RequestLimitExceeded.Busy [1-9]' || fail "no busy answer with a full queue: $OUT"
! printf '%s\n' "$OUT" | grep -q '^Success' || fail "a wrong secret was allowed: $OUT"
note "busy under a flood of distinct wrong secrets: $(echo $OUT)"
# the same wrong secret from 16 threads at once shares Argon2id jobs: no busy
_a=$(stat_of Argon2Verifies)
run_in "$SK2" "$DRIVER" flood "$SOCK" "$SID1" 16 3
printf '%s\n' "$OUT" | grep -q '^AuthFailure.SignatureFailure 48$' || fail "coalesced wrong secrets: $OUT"
_h=$(($(stat_of Argon2Verifies) - _a))
[ "$_h" -lt 48 ] || fail "48 requests with one wrong secret cost $_h Argon2id"
note "48 requests with one wrong secret from 16 threads: $_h Argon2id, all refused, no busy"
# warm verifies are not queued behind the hashes
expect_exit_in "$SK1" 0 sockv verify "$SID1"

# ------------------------------------------------------------ throttling
# The window is an hour while the attempts land, however slowly (one
# Argon2id each: at load average 10 five took longer than a 2 s window,
# issue 19 in tests/RELIABILITY.md); then a reload shortens it to 1 s, which
# the first failure is soon past, and the key is polled until served again.
reload "  throttle_failures: 5
  throttle_window_s: 3600"
run_in "$SK1" "$DRIVER" flood "$SOCK" "$SID2" 1 7
printf '%s\n' "$OUT" | grep -q '^AuthFailure.SignatureFailure 5$' || fail "throttle: $OUT"
printf '%s\n' "$OUT" | grep -q '^AuthFailure.TooManyAttempts 2$' || fail "throttle: $OUT"
_a=$(stat_of Argon2Verifies)
expect_exit_in "$SK2" 3 sockv verify "$SID2"
expect_error AuthFailure.TooManyAttempts
[ "$(stat_of Argon2Verifies)" = "$_a" ] || fail "a throttled attempt cost an Argon2id"
# recorded once the flusher (every 100 ms) has written it
_i=0
until lk records "$SID2" 2>/dev/null | grep -q "AuthFailure.TooManyAttempts"; do
    _i=$((_i + 1))
    [ $_i -lt 600 ] || fail "the throttled attempt was not recorded in 60 s"
    sleep 0.1
done
reload "  throttle_failures: 5
  throttle_window_s: 1"
_i=0
until printf '%s\n' "$SK2" | sockv verify "$SID2" >/dev/null 2>&1; do
    _i=$((_i + 1))
    [ $_i -lt 600 ] || fail "still throttled 60 s after the window was shortened to 1 s"
    sleep 0.1
done
note "throttled after 5 wrong secrets, recorded, served again after the window"

# A request refused before its secret is checked (the key disabled, outside
# its allowlist or scope) is answered as a wrong secret; on a throttled key
# as throttled, like every other unproven request, or the throttle would
# tell which requests the key's state or rules refuse (issue 19). A long
# window: nothing here waits for it to end.
reload "  throttle_failures: 3
  throttle_window_s: 3600"
expect_exit 0 lk user add 300
new_key 300
run_in "$SK1" "$DRIVER" flood "$SOCK" "$SID" 1 3
printf '%s\n' "$OUT" | grep -q '^AuthFailure.SignatureFailure 3$' || fail "throttle: $OUT"
expect_exit 0 lk key disable "$SID"
expect_exit_in "$SK" 3 sockv verify "$SID"
expect_error AuthFailure.TooManyAttempts
expect_exit_in "$SK1" 3 sockv verify "$SID"
expect_error AuthFailure.TooManyAttempts
expect_exit 0 lk key enable "$SID"
expect_exit_in "$SK1" 3 sockv verify "$SID"
expect_error AuthFailure.TooManyAttempts
note "a throttled key: a disabled one answers as throttled too, right secret or wrong"

# ------------------------------------------------------------ who may connect
reload "  allow_uids: [12345]"
expect_exit_in "$SK1" 5 sockv verify "$SID1"
grep -q "refused a connection from uid 0" "$LOG" || fail "no log line for the refused peer"
note "root refused when not in allow_uids"
chmod 755 "$WORK" "$DIR"
if ! command -v setpriv >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    note "setpriv missing or not root: the non-root client case is skipped"
elif ! as_nobody "$LATCHKEY" --version >/dev/null 2>&1; then
    note "uid 65534 cannot run $LATCHKEY (a private build directory): the non-root client case is skipped"
else
    expect_exit_in "$SK1" 5 as_nobody "$LATCHKEY" --socket "$SOCK" verify "$SID1"
    reload "  allow_uids: [65534]"
    expect_exit_in "$SK1" 0 as_nobody "$LATCHKEY" --socket "$SOCK" verify "$SID1"
    expect_exit_in "$SK1" 5 sockv verify "$SID1"
    reload "  allow_gids: [65534]"
    expect_exit_in "$SK1" 0 as_nobody "$LATCHKEY" --socket "$SOCK" verify "$SID1"
    note "uid 65534 refused, then allowed by uid, then by gid (setpriv)"
fi
reload ""

# ------------------------------------------------------------ kill -9 under load, restart
printf '%s\n' "$SK1" | "$DRIVER" survive "$SOCK" "$SID1" 3 >"$WORK/cap/survive" 2>&1 &
SURV=$!
# the load: 4 more client threads verifying as fast as they can
printf '%s\n' "$SK1" | "$DRIVER" bench "$SOCK" "$SID1" 4 2.5 >"$WORK/cap/load" 2>&1 &
LOAD=$!
sleep 0.7
kill -9 "$LKD_PID"
wait "$LKD_PID" 2>/dev/null || :
LKD_PID=
# a client now fails closed, at once
_t0=$(date +%s)
expect_exit_in "$SK1" 5 sockv verify "$SID1"
expect_error FailedOperation.Storage
[ $(($(date +%s) - _t0)) -le 2 ] || fail "failing closed took too long"
sleep 0.5
start_daemon
wait "$SURV" || fail "survive client failed"
wait "$LOAD" || fail "load clients failed: $(cat "$WORK/cap/load")"
S=$(cat "$WORK/cap/survive")
# After the restart the cache is cold: the first calls need an Argon2id
# each and may find the queue full (Busy: fail closed too), until one has
# warmed the cache.
printf '%s\n' "$S" |
    grep -Eq '^Success x[0-9]+, FailedOperation.Storage x[0-9]+, (RequestLimitExceeded.Busy x[0-9]+, )?Success x[0-9]+$' ||
    fail "a long-lived client across kill -9 and restart: $S"
note "kill -9 under load ($(sed 's/,.*//' "$WORK/cap/load")): one client saw $S"
expect_exit_in "$SK1" 0 sockv verify "$SID1"
expect_exit 0 lk key show "$SID2" # nothing committed was lost

# ------------------------------------------------------------ SIGTERM drains and flushes
expect_exit_in "$SK2" 0 sockv verify "$SID2"
stop_daemon
[ ! -e "$SOCK" ] || fail "socket left behind after SIGTERM"
expect_exit 0 lk records "$SID2"
[ "$(printf '%s\n' "$OUT" | grep -c Success)" -ge 2 ] || fail "records not flushed at SIGTERM"
grep -q "stopped" "$LOG" || fail "no clean stop in the log"
# never a secret in the log
for s in "$SK1" "$SK2" "$AK"; do
    ! grep -qF "$s" "$LOG" || fail "a secret is in latchkeyd's log"
done
note "SIGTERM: drained, records flushed, socket removed; no secret in the log"

# ------------------------------------------------------------ hash cost lowered: upgrade on success
# (issue 14) The keys were hashed at t=3, 32 MiB. With the config lowered,
# the next successful verify through the service (an Argon2id thread: the
# request worker answers NeedsHash for an outdated hash) stores a new hash
# with t=1, 8 KiB; a wrong secret first changes nothing. ',' is stored %2C.
sed 's/^hash: .*/hash: {opslimit: 1, memlimit_kib: 8}/' "$CFG" >"$CFG.low" && mv "$CFG.low" "$CFG"
start_daemon
expect_exit_in "$SK1" 3 sockv verify "$SID2"
! grep -aq 'm=8%2Ct=1' "$DIR/store.mdb" || fail "a wrong secret rewrote a hash"
expect_exit_in "$SK2" 0 sockv verify "$SID2"
grep -aq 'm=8%2Ct=1' "$DIR/store.mdb" || fail "the outdated hash was not upgraded by a successful verify"
expect_exit 0 lk key show "$SID2"
out_has "^Status: *Active"
expect_exit_in "$SK2" 0 sockv verify "$SID2"
stop_daemon
note "hash cost lowered: a wrong secret left the hash, the right one upgraded it through latchkeyd"

# ------------------------------------------------------------ out of file descriptors
# More clients than descriptors: the surplus is refused at once (not left
# to spin the accept loop), and the service serves again when they leave.
(ulimit -n 40 && exec "$LATCHKEYD" --config "$CFG" 2>>"$LOG") &
LKD_PID=$!
_i=0
until [ -S "$SOCK" ]; do _i=$((_i + 1)); [ $_i -lt 100 ] || fail "latchkeyd (ulimit -n 40) did not start"; sleep 0.05; done
run "$DRIVER" conns "$SOCK" 100
printf '%s\n' "$OUT" | grep -q '^opened [0-9]* answered [1-9][0-9]* of 100$' || fail "with 40 descriptors: $OUT"
grep -q "out of file descriptors, refusing connections" "$LOG" || fail "no log line for running out of descriptors"
run "$DRIVER" conns "$SOCK" 5
[ "$RC" = 0 ] || fail "not serving again after running out of descriptors: $OUT"
expect_exit_in "$SK1" 0 sockv verify "$SID1"
stop_daemon
note "out of descriptors (ulimit -n 40, 100 clients): surplus refused, served again after"
