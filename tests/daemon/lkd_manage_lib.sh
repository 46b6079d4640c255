# lkd_manage_lib.sh — latchkeyd with its management API, for the tests
# that drive it (manage.sh with curl, remote.sh with latchkey --endpoint).
# Sourced after tests/e2e/lib.sh. The caller sets LATCHKEYD, LOG and PORT
# and defines daemon_config [EXTRA MANAGE LINES...], which writes the
# service's config to $LKD_CFG (default: $CFG) with the API on $PORT.
LKD_PID=

stop_daemon_on_exit() {
    [ -z "$LKD_PID" ] || kill -9 "$LKD_PID" 2>/dev/null || :
    cleanup
}
trap stop_daemon_on_exit EXIT

# start_daemon [EXTRA MANAGE LINES...]: latchkeyd on a free port; waits
# until the API answers.
start_daemon() {
    for _try in 1 2 3 4 5 6 7 8 9 10; do
        daemon_config "$@"
        : >"$LOG.cur"
        "$LATCHKEYD" --config "${LKD_CFG:-$CFG}" 2>"$LOG.cur" &
        LKD_PID=$!
        _i=0
        while :; do
            if grep -q 'serving the management API' "$LOG.cur"; then
                cat "$LOG.cur" >>"$LOG"
                return 0
            fi
            if ! kill -0 "$LKD_PID" 2>/dev/null; then
                wait "$LKD_PID" 2>/dev/null || : # its status: the log says why
                cat "$LOG.cur" >>"$LOG"
                grep -q 'cannot serve' "$LOG.cur" || fail "latchkeyd exited at start: $(cat "$LOG.cur")"
                break
            fi
            _i=$((_i + 1))
            [ $_i -lt 600 ] || fail "latchkeyd did not start: $(cat "$LOG.cur")"
            sleep 0.05
        done
        LKD_PID=
        PORT=$((PORT + 2))
    done
    fail "no free port for latchkeyd"
}

stop_daemon() {
    kill -TERM "$LKD_PID"
    wait "$LKD_PID" || fail "latchkeyd exited $? on SIGTERM"
    LKD_PID=
    cat "$LOG.cur" >>"$LOG" 2>/dev/null || :
}

