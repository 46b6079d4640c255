#!/bin/sh
# operator.sh — latchkeyd as an operator meets it outside systemd: the
# socket's directory, the store it must find (never create), and what it
# logs about denials.
. "$(dirname "$0")/../e2e/lib.sh"

TESTNAME=operator
BACKEND=lmdb
LOG=$WORK/cap/latchkeyd.log
. "$(dirname "$0")/lib.sh"

daemon_setup

# ------------------------------------------------------------ the socket's directory
# Missing (as /run/latchkey is without systemd's RuntimeDirectory=): created,
# mode 0755 whatever the umask, so clients reach the socket.
SOCK=$DIR/run/latchkey/lkd.sock
daemon_config ""
sed -i "s|^  socket: .*|  socket: $SOCK|" "$CFG"
mkdir "$DIR/run"
_umask=$(umask)
umask 077
start_daemon
umask "$_umask"
[ "$(stat -c %a "$DIR/run/latchkey")" = 755 ] || fail "socket directory mode $(stat -c %a "$DIR/run/latchkey"), expected 755"
[ "$(stat -c %u "$DIR/run/latchkey")" = "$(id -u)" ] || fail "socket directory not owned by the service's user"
grep -q "created $DIR/run/latchkey (mode 0755" "$LOG" || fail "no log line for the created socket directory"
expect_exit_in "$SK1" 0 sockv verify "$SID1"
stop_daemon
# An existing directory is never loosened.
chmod 0700 "$DIR/run/latchkey"
start_daemon
[ "$(stat -c %a "$DIR/run/latchkey")" = 700 ] || fail "an existing socket directory's mode was changed"
stop_daemon
note "a missing socket directory is created 0755; an existing one is left as it is"

# Its parent not writable (as /run is for a user other than root): exit 5,
# and the message names the command that creates it.
rm -rf "$DIR/run/latchkey"
chmod 0555 "$DIR/run"
if [ "$(id -u)" != 0 ]; then
    run "$LATCHKEYD" --config "$CFG"
    _user=$(id -un) _group=$(id -gn)
elif nobody_can_run "$LATCHKEYD" --version; then
    chmod 0711 "$WORK"
    chown -R 65534:65534 "$DIR" # the store belongs to the service's user
    chown 0:0 "$DIR/run"
    run as_nobody "$LATCHKEYD" --config "$CFG"
    _user=$(id -un 65534) _group=$(getent group 65534 | cut -d: -f1)
else
    _user=
    note "SKIP the unwritable parent: uid 65534 cannot run the build here"
fi
if [ -n "$_user" ]; then
    [ "$RC" = 5 ] || fail "socket directory not creatable: exit $RC, expected 5"
    err_has_str "install -d -o $_user -g $_group -m 0755 $DIR/run/latchkey"
    [ ! -e "$DIR/run/latchkey" ] || fail "the directory appeared anyway"
    note "an uncreatable socket directory: exit 5 naming 'install -d -o $_user -g $_group -m 0755'"
fi
chmod 0755 "$DIR/run"
[ "$(id -u)" != 0 ] || chown -R "$(id -u):$(id -g)" "$DIR"
SOCK=$DIR/lkd.sock

# ------------------------------------------------------------ only `init` creates a store
daemon_config ""
sed -i 's|^store: .*|store: {backend: lmdb, path: missing.mdb}|' "$CFG"
run timeout 30 "$LATCHKEYD" --config "$CFG" # an old latchkeyd would create the store and serve
[ "$RC" = 5 ] || fail "a missing store: exit $RC, expected 5"
err_has_str "missing.mdb not found (create it with \`latchkey init\`, or correct store.path)"
[ ! -e "$DIR/missing.mdb" ] || fail "latchkeyd created a store"
_lkd_err=$ERR
expect_exit 5 lk user list
printf '%s\n' "$ERR" | sed 's/^latchkey: [^:]*: //' >"$WORK/cap/tool.msg"
printf '%s\n' "$_lkd_err" | grep -qF -e "$(cat "$WORK/cap/tool.msg")" || fail "latchkeyd's message differs from the tool's: $_lkd_err / $ERR"
daemon_config ""
note "a missing store: exit 5 with the tool's message, nothing created"

# ------------------------------------------------------------ denials in the log
# One wrong secret: one line with the code, the key id and the peer; never a secret.
start_daemon
expect_exit_in "$SK2" 3 sockv verify "$SID1"
expect_error AuthFailure.SignatureFailure
# (the line is written before the answer is sent: no waiting)
grep -q "^latchkeyd: denied AuthFailure.SignatureFailure: key $SID1, uid $(id -u) pid [0-9]*, service -$" "$LOG" ||
    fail "no denial line for a wrong secret: $(tail -n 3 "$LOG")"
[ "$(grep -c '^latchkeyd: denied' "$LOG")" = 1 ] || fail "one wrong secret: $(grep -c '^latchkeyd: denied' "$LOG") denial lines"
expect_exit_in "$SK1" 3 sockv verify AKIDnotakey
# an unknown SecretId: SID1 with its last character changed (never to itself)
case $SID1 in *X) _other=${SID1%?}Y ;; *) _other=${SID1%?}X ;; esac
expect_exit_in "$SK1" 3 sockv verify --service cvm "$_other"
for s in "$SK1" "$SK2"; do
    ! grep -qF "$s" "$LOG" || fail "a secret is in latchkeyd's log"
done
note "a wrong secret: one log line with code, key id and peer, no secret"

# A flood of 1000 wrong secrets (each a new one: no coalescing) for one key:
# a bounded number of lines, whatever the time it takes.
_before=$(grep -c '^latchkeyd: denied' "$LOG")
run_in random "$DRIVER" flood "$SOCK" "$SID2" 2 500
[ "$RC" = 0 ] || fail "flood: exit $RC: $ERR"
_lines=$(($(grep -c '^latchkeyd: denied' "$LOG") - _before))
[ "$_lines" -ge 1 ] && [ "$_lines" -le 12 ] || fail "1000 wrong secrets wrote $_lines denial lines, expected 1..12"
grep -q "^latchkeyd: denied AuthFailure.TooManyAttempts: key $SID2, uid $(id -u) pid [0-9]*, service - ([0-9]* such denials within 60 s" "$LOG" ||
    grep -q "^latchkeyd: denied AuthFailure.SignatureFailure: key $SID2, .* such denials within 60 s" "$LOG" ||
    fail "no counted line for the flood: $(grep denied "$LOG" | tail -n 3)"
note "1000 wrong secrets: $_lines denial lines"

# none: no lines; all: every denial (a reload changes it).
reload "  log_denials: none"
_before=$(grep -c '^latchkeyd: denied' "$LOG")
expect_exit_in "$SK2" 3 sockv verify "$SID1"
expect_exit_in "$SK1" 0 sockv verify "$SID1"
[ "$(grep -c '^latchkeyd: denied' "$LOG")" = "$_before" ] || fail "log_denials: none still logs a denial"
reload "  log_denials: all"
for _n in 1 2 3; do expect_exit_in "$SK2" 3 sockv verify "$SID1"; done
[ "$(grep -c '^latchkeyd: denied' "$LOG")" = $((_before + 3)) ] || fail "log_denials: all did not log each denial"
stop_daemon
daemon_config "  log_denials: sometimes"
run timeout 30 "$LATCHKEYD" --config "$CFG"
[ "$RC" = 4 ] || fail "log_denials: sometimes: exit $RC, expected 4"
err_has_str "expected none, first or all, got 'sometimes'"
note "log_denials none / all, through a reload; a bad value refused"

# ------------------------------------------------------------ --socket: errors speak of commands
daemon_config ""
start_daemon
for _cmd in "apikey list" "user list" "key list"; do
    _arg=100
    [ "$_cmd" != "user list" ] || _arg=
    # shellcheck disable=SC2086 # the words of the command
    expect_exit 2 sockv $_cmd $_arg
    err_has_str "latchkey: InvalidParameter.ParamError: $_cmd is not available with --socket; run it on the store's machine without --socket"
    err_lacks_str "lk_"
done
expect_exit 2 sockv --json apikey list 100
out_has_str '"Message":"apikey list is not available with --socket; run it on the store'"'"'s machine without --socket"'
stop_daemon
note "--socket with a command latchkeyd does not serve: the message names the command and the way out"

# ------------------------------------------------------------ the sysvinit script (etc/init.d/latchkeyd)
INIT=$LK_SRCDIR/etc/init.d/latchkeyd
if [ "$(id -u)" = 0 ] && command -v start-stop-daemon >/dev/null 2>&1 && nobody_can_run "$LATCHKEYD" --version; then
    chmod 0711 "$WORK"
    daemon_config ""
    sed -i "s|^  socket: .*|  socket: $DIR/run2/lkd.sock|" "$CFG"
    chmod 0644 "$CFG"
    chown -R 65534:65534 "$DIR"
    chown 0:0 "$CFG"
    # the binary itself, not libtool's wrapper script (start-stop-daemon
    # matches the running executable), with the library it was built with
    _bin=$LATCHKEYD
    [ ! -x "$(dirname "$LATCHKEYD")/.libs/latchkeyd" ] || _bin=$(dirname "$LATCHKEYD")/.libs/latchkeyd
    cat >"$WORK/defaults" <<EOD
DAEMON=$_bin
LD_LIBRARY_PATH=$LK_BUILDDIR/.libs
export LD_LIBRARY_PATH
CONFIG=$CFG
LKD_USER=$(id -un 65534)
LKD_GROUP=$(getent group 65534 | cut -d: -f1)
RUNDIR=$DIR/run2
PIDFILE=$DIR/run2/latchkeyd.pid
LOGFILE=$WORK/cap/init.log
EOD
    export LATCHKEYD_DEFAULTS="$WORK/defaults"
    # a start that failed may have left the service starting: it ends with the test
    trap '[ ! -s "$DIR/run2/latchkeyd.pid" ] || kill -9 "$(cat "$DIR/run2/latchkeyd.pid")" 2>/dev/null; stop_daemon_on_exit' EXIT
    expect_exit 0 sh "$INIT" start
    LKD_PID=$(cat "$DIR/run2/latchkeyd.pid")
    [ "$(stat -c %U:%a "$DIR/run2")" = "$(id -un 65534):755" ] || fail "init script: run directory $(stat -c %U:%a "$DIR/run2")"
    [ "$(ps -o uid= -p "$LKD_PID" | tr -d ' ')" = 65534 ] || fail "init script: the service does not run as uid 65534"
    "$DRIVER" conns "$DIR/run2/lkd.sock" 1 >/dev/null 2>&1 || fail "init script: the service does not answer"
    expect_exit 0 sh "$INIT" status
    expect_exit 0 sh "$INIT" start # already running: nothing done
    out_has "already running"
    expect_exit 0 sh "$INIT" stop
    # gone (a zombie, where nothing reaps the orphan, has stopped too)
    case $(ps -o stat= -p "$LKD_PID" 2>/dev/null || :) in
    "" | Z*) ;;
    *) fail "init script: the service still runs after stop" ;;
    esac
    LKD_PID=
    grep -q '^latchkeyd: stopped$' "$WORK/cap/init.log" || fail "init script: no clean stop in its log"
    expect_exit 3 sh "$INIT" status
    # a refusal at start is shown, not hidden by --background
    sed -i 's|^store: .*|store: {backend: lmdb, path: missing.mdb}|' "$CFG"
    expect_exit 1 sh "$INIT" start
    err_has_str "not found (create it with \`latchkey init\`, or correct store.path)"
    unset LATCHKEYD_DEFAULTS
    chown -R "$(id -u):$(id -g)" "$DIR"
    note "etc/init.d/latchkeyd: start as uid 65534, status, stop (drained), a refusal at start shown"
else
    note "SKIP etc/init.d/latchkeyd: needs root, start-stop-daemon and a build uid 65534 can run"
fi
