# lib.sh — the key console's tests: a real latchkeyd with the management
# API and the console on 127.0.0.1, accounts and keys made with the admin
# tool. Sourced after tests/e2e/lib.sh; sets LATCHKEYD, LOG, PORT, CLOCK.
LATCHKEYD=${LK_CONSOLE_LATCHKEYD:-$(lk_direct "$LK_BUILDDIR/latchkeyd")} # a wrapper (valgrind) may stand in
[ -x "$LATCHKEYD" ] || fail "latchkeyd not built"
command -v curl >/dev/null 2>&1 || skip "curl is not installed"
LOG=$WORK/latchkeyd.log
PORT=$((20000 + ($$ * 11) % 10000))
# the sessions' clock, a file the test moves (LATCHKEYD_TEST_SESSION_CLOCK)
CLOCK=$WORK/clock
date +%s >"$CLOCK"
LATCHKEYD_TEST_SESSION_CLOCK=$CLOCK
export LATCHKEYD_TEST_SESSION_CLOCK
. "$LK_SRCDIR/tests/daemon/lkd_manage_lib.sh"

daemon_config() {
    {
        cat "$DIR/base.yaml"
        printf 'records: {flush_interval_ms: 50}\n'
        printf 'daemon:\n  socket: lkd.sock\n  argon2_workers: 1\n'
        printf '  http: {listen: "127.0.0.1:%s"}\n' $((PORT + 1))
        printf '  manage:\n    listen: "127.0.0.1:%s"\n' "$PORT"
        printf '    console_dir: "%s"\n    session_idle_s: 600\n    session_max_s: 3600\n' "$LK_SRCDIR/console"
        printf '    trusted_proxies: [127.0.0.2]\n    user_header: X-Webauth-User\n'
        for l in "$@"; do printf '    %s\n' "$l"; done
    } >"$CFG"
}

# The accounts: 100 root (alice), 101 sub-user granted manage (bob), 103
# sub-user ungranted (carol), 200 another root. Sets S<uin>/K<uin>.
console_accounts() {
    B=${LK_E2E_BACKENDS:-lmdb}
    setup_store "${B%% *}"
    cp "$CFG" "$DIR/base.yaml"
    expect_exit 0 lk user add 100 --login alice
    expect_exit 0 lk user add 101 --kind sub-user --root 100 --self-service manage --login bob
    expect_exit 0 lk user add 103 --kind sub-user --root 100 --login carol
    expect_exit 0 lk user add 200
    for u in 100 101 103 200; do
        new_key $u
        eval "S$u=\$SID K$u=\$SK"
    done
}

advance_clock() { echo $(($(cat "$CLOCK") + $1)) >"$CLOCK.new" && mv "$CLOCK.new" "$CLOCK"; }

# need_browser: the browser tests' tools, or skip (77) saying which to
# install. Sets PY, CHROMIUM, CHROMEDRIVER.
need_browser() {
    PY=/usr/bin/python3
    CHROMIUM=$(command -v chromium || command -v chromium-browser || :)
    CHROMEDRIVER=$(command -v chromedriver || :)
    [ -n "$CHROMIUM" ] || skip "chromium is not installed (Debian: apt-get install chromium)"
    [ -n "$CHROMEDRIVER" ] || skip "chromedriver is not installed (Debian: apt-get install chromium-driver)"
    "$PY" -c 'import selenium' 2>/dev/null || skip "python3-selenium is not installed (Debian: apt-get install python3-selenium)"
}

# browser_shots NAME: an empty screenshots directory for one browser test
# under the build tree (each test its own: they may run at once). Sets SHOTS.
browser_shots() {
    SHOTS=$LK_BUILDDIR/tests/console/screenshots/$1
    mkdir -p "$SHOTS" "$WORK/downloads"
    rm -f "$SHOTS"/*.png
}

# write_creds NAME...: the pairs S<uin>/K<uin> of the uins named, as JSON in
# $WORK/creds.json (0600), for the browser test: never on a command line.
write_creds() {
    _j=
    for _u in "$@"; do
        eval "_s=\$S$_u _k=\$K$_u"
        _j="$_j${_j:+,}\"S$_u\":\"$_s\",\"K$_u\":\"$_k\""
    done
    ( umask 077; printf '{%s}\n' "$_j" >"$WORK/creds.json" )
}

# run_browser SCRIPT [VAR=VALUE...]: the python driver tests/console/SCRIPT
# against the console on $PORT; fails the test when it fails.
run_browser() {
    _script=$1
    shift
    _rc=0
    env LK_CONSOLE_BASE="http://127.0.0.1:$PORT" LK_CONSOLE_SHOTS="$SHOTS" LK_CONSOLE_DOWNLOADS="$WORK/downloads" \
        LK_CONSOLE_CREDS="$WORK/creds.json" LK_CONSOLE_LOG="$LOG.cur" LK_CHROMIUM="${CHROMIUM:-}" \
        LK_CHROMEDRIVER="${CHROMEDRIVER:-}" HOME="$WORK" PYTHONDONTWRITEBYTECODE=1 "$@" \
        timeout 900 "$PY" "$LK_SRCDIR/tests/console/$_script" || _rc=$?
    [ "$_rc" = 0 ] || fail "the browser test $_script failed (exit $_rc); screenshots in $SHOTS; log: $(tail -5 "$LOG.cur")"
    note "screenshots: $(ls "$SHOTS" | wc -l) in $SHOTS"
}
