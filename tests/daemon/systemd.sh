#!/bin/sh
# systemd.sh — the shipped unit (etc/latchkeyd.service) and its HTTP drop-in
# (etc/systemd/latchkeyd-http.conf): both pass `systemd-analyze verify`
# with nothing to say, and latchkeyd run with the settings they leave in
# effect (read back with `systemd-analyze security --offline`, so the test
# follows the files) behaves as the unit promises: the base unit serves its
# socket but its HTTP listener cannot start (no network namespace, sockets
# of AF_UNIX only); with the drop-in, /healthz answers on 127.0.0.1.
# systemd is not PID 1 here, so its settings are mirrored: PrivateNetwork=
# by `unshare --net`, RestrictAddressFamilies= by tests/daemon/restrict_af
# (a seccomp filter like systemd's).
. "$(dirname "$0")/../e2e/lib.sh"

LATCHKEYD=$(lk_direct "$LK_BUILDDIR/latchkeyd")
DRIVER=$(lk_direct "$LK_BUILDDIR/tests/daemon/lkd_driver")
RESTRICT=$LK_BUILDDIR/tests/daemon/restrict_af
UNIT=$LK_BUILDDIR/etc/latchkeyd.service
DROPIN=$LK_SRCDIR/etc/systemd/latchkeyd-http.conf
BACKEND=-
command -v systemd-analyze >/dev/null 2>&1 || skip "systemd-analyze is not installed (Debian: apt-get install systemd)"
[ -x "$LATCHKEYD" ] && [ -x "$DRIVER" ] && [ -x "$RESTRICT" ] && [ -f "$UNIT" ] ||
    fail "latchkeyd, lkd_driver, restrict_af or etc/latchkeyd.service not built"
LKD_PID=
stop_on_exit() {
    [ -z "$LKD_PID" ] || kill -9 "$LKD_PID" 2>/dev/null || :
    cleanup
}
trap stop_on_exit EXIT

# ------------------------------------------------------------ the unit files
# A copy whose ExecStart names the built latchkeyd (verify wants it to
# exist); the drop-in where systemd looks for it, beside the unit.
U=$WORK/units
mkdir -p "$U/base" "$U/http/latchkeyd.service.d"
sed "s|^ExecStart=[^ ]*/latchkeyd |ExecStart=$LATCHKEYD |" "$UNIT" >"$U/base/latchkeyd.service"
grep -q "^ExecStart=$LATCHKEYD " "$U/base/latchkeyd.service" || fail "no ExecStart=.../latchkeyd line in $UNIT"
cp "$U/base/latchkeyd.service" "$U/http/latchkeyd.service"
cp "$DROPIN" "$U/http/latchkeyd.service.d/http.conf"

for v in base http; do
    run systemd-analyze verify --man=no "$U/$v/latchkeyd.service"
    [ "$RC" = 0 ] && [ -z "$OUT$ERR" ] || fail "systemd-analyze verify ($v): exit $RC: $OUT$ERR"
done
note "systemd-analyze verify: the unit and the unit with the HTTP drop-in, no complaint"

# The settings in effect: PN (1: a private network namespace) and INET
# (1: AF_INET/AF_INET6 sockets allowed).
effective() {
    run systemd-analyze security --offline=yes --json=short --no-pager "$U/$1/latchkeyd.service"
    [ "$RC" = 0 ] || fail "systemd-analyze security ($1): exit $RC: $ERR"
    _j=$(printf '%s' "$OUT" | tr -d ' \n')
    case $_j in
    *'"set":true,"name":"PrivateNetwork="'*) PN=1 ;;
    *'"set":false,"name":"PrivateNetwork="'*) PN=0 ;;
    *) fail "systemd-analyze security ($1) says nothing of PrivateNetwork=" ;;
    esac
    case $_j in
    *'"set":true,"name":"RestrictAddressFamilies=~AF_(INET|INET6)"'*) INET=0 ;;
    *'"set":false,"name":"RestrictAddressFamilies=~AF_(INET|INET6)"'*) INET=1 ;;
    *) fail "systemd-analyze security ($1) says nothing of AF_INET" ;;
    esac
}
effective base
[ "$PN$INET" = 10 ] || fail "the base unit: PrivateNetwork $PN, Internet sockets $INET (expected a private network, none)"
BASE_PN=$PN BASE_INET=$INET
effective http
[ "$PN$INET" = 01 ] || fail "with the drop-in: PrivateNetwork $PN, Internet sockets $INET (expected the host's network, allowed)"
HTTP_PN=$PN HTTP_INET=$INET

# ------------------------------------------------------------ latchkeyd under those settings
# PrivateNetwork=: a new network namespace (a user namespace too where only
# that is permitted); where neither is (some containers), the address-family
# filter alone stands for the unit, which still keeps the listener shut.
NETNS=
for _ns in "unshare --net" "unshare --user --map-root-user --net"; do
    if $_ns true 2>/dev/null; then
        NETNS=$_ns
        break
    fi
done
[ -n "$NETNS" ] || note "unshare is not permitted here: PrivateNetwork= is not mirrored, RestrictAddressFamilies= is"

setup_store lmdb
SOCK=$DIR/lkd.sock
LOG=$WORK/cap/latchkeyd.log
PORT=$((20000 + $$ % 10000))
while curl -s -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null; do PORT=$((PORT + 1)); done
lkd_config() { # $1: extra lines
    cat >"$CFG" <<EOC
store: {backend: lmdb, path: store.mdb}
daemon:
  socket: lkd.sock
$1
EOC
}
# start_mirrored PN INET: latchkeyd in the background as the unit would run it
start_mirrored() {
    _ns=
    [ "$1" = 0 ] || _ns=$NETNS
    _af=unix
    [ "$2" = 0 ] || _af=unix,inet
    : >"$LOG"
    $_ns "$RESTRICT" "$_af" "$LATCHKEYD" --config "$CFG" 2>>"$LOG" &
    LKD_PID=$!
}
# up_or_gone: wait until the socket answers (0) or latchkeyd has exited (1)
up_or_gone() {
    _i=0
    until [ -S "$SOCK" ] && "$DRIVER" conns "$SOCK" 1 >/dev/null 2>&1; do
        kill -0 "$LKD_PID" 2>/dev/null || return 1
        _i=$((_i + 1))
        [ $_i -lt 600 ] || { cat "$LOG" >&2; fail "latchkeyd neither served nor exited in 60 s"; }
        sleep 0.1
    done
    return 0
}
stop_lkd() {
    kill -TERM "$LKD_PID"
    wait "$LKD_PID" || fail "latchkeyd exited $? on SIGTERM"
    LKD_PID=
}

# the base unit, socket only: served
lkd_config ""
start_mirrored "$BASE_PN" "$BASE_INET"
up_or_gone || { cat "$LOG" >&2; fail "the base unit's settings: latchkeyd did not start on its socket"; }
stop_lkd
note "the base unit's settings: latchkeyd serves its socket"

# the base unit with daemon.http.listen: latchkeyd refuses to start
lkd_config "  http:
    listen: 127.0.0.1:$PORT"
start_mirrored "$BASE_PN" "$BASE_INET"
if up_or_gone; then
    fail "the base unit's settings: latchkeyd started with daemon.http.listen (its socket answers)"
fi
_rc=0
wait "$LKD_PID" || _rc=$?
LKD_PID=
[ "$_rc" != 0 ] || fail "the base unit's settings: latchkeyd exited 0 with an HTTP listener it could not open"
grep -qi "address family not supported" "$LOG" || fail "no log line says why the HTTP listener failed: $(cat "$LOG")"
! curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" || fail "something answers on 127.0.0.1:$PORT"
note "the base unit's settings: daemon.http.listen cannot start (exit $_rc: $(grep -i 'address family' "$LOG" | head -n 1))"

# with the drop-in: /healthz answers from the host's network
start_mirrored "$HTTP_PN" "$HTTP_INET"
up_or_gone || { cat "$LOG" >&2; fail "with the drop-in's settings: latchkeyd did not start"; }
_i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" = 200 ]; do
    _i=$((_i + 1))
    [ $_i -lt 600 ] || { cat "$LOG" >&2; fail "with the drop-in's settings: /healthz on 127.0.0.1:$PORT did not answer 200 in 60 s"; }
    sleep 0.1
done
stop_lkd
note "with the HTTP drop-in's settings: /healthz answers 200 on 127.0.0.1:$PORT"
