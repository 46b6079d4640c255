# tests/pg/verifier.sh — sourced (after S and B are set) by the scripts that
# run "machine B", the long-lived verifier tests/pg/fleet.c with its own
# record cache, beside the latchkey tool ("machine A", a process per
# command) on one database of a private cluster.
#
# b_start DB: creates database DB with latchkey's schema; CFG is A's
#   configuration, $WORK/b.yaml B's; starts B, driven through fds 3 and 4.
# on_b COMMAND: one command to B (see fleet.c); its answer in $ANS.
# b_sees WHAT COMMAND: B reaches the verdict within the command's span, else fail.
# b_stop: B quits; fail if it exits non-zero.
# cleanup (run at exit) also kills $LKD_PID and $HOLD_PID when set.
. "$S/tests/e2e/lib.sh"
. "$S/tests/pg/lib.sh"
pg_start
export PG_DIR PG_PORT
BACKEND=postgresql
[ -x "$B/tests/pg/fleet" ] || fail "$B/tests/pg/fleet not built"

DRIVER_PID= LKD_PID= HOLD_PID=
# replaces tests/e2e/lib.sh's (pg_cleanup calls it)
cleanup() {
    for _p in $LKD_PID $HOLD_PID; do
        kill "$_p" 2>/dev/null || :
    done
    if [ -n "$DRIVER_PID" ]; then
        exec 3>&- 2>/dev/null || :
        kill "$DRIVER_PID" 2>/dev/null || :
    fi
    chmod -R u+rwx "$WORK" 2>/dev/null || :
    rm -rf "$WORK"
}

b_start() {
    PG_STORE_CONNINFO=$(pg_new_db "$1")
    CFG=$WORK/a.yaml
    write_config "$CFG" postgresql
    write_config "$WORK/b.yaml" postgresql
    expect_exit 0 lk init
    mkfifo "$WORK/b.in" "$WORK/b.out"
    "$B/tests/pg/fleet" "$WORK/b.yaml" <"$WORK/b.in" >"$WORK/b.out" 2>"$WORK/b.err" &
    DRIVER_PID=$!
    exec 3>"$WORK/b.in" 4<"$WORK/b.out"
}

on_b() {
    printf '%s\n' "$*" >&3
    IFS= read -r ANS <&4 || fail "the verifier died: $(cat "$WORK/b.err")"
}

b_sees() {
    _what=$1
    shift
    on_b "$@"
    case $ANS in
    ok\ *) note "B: $_what after $(echo "$ANS" | cut -d' ' -f3) ms" ;;
    *) fail "B: $_what: $ANS" ;;
    esac
}

b_stop() {
    printf 'quit\n' >&3
    exec 3>&-
    wait "$DRIVER_PID" || fail "the verifier exited $?"
    DRIVER_PID=
}
