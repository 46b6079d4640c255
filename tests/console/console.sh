#!/bin/bash
# console.sh — the key console in a real headless Chromium (issue 21):
# latchkeyd with the management API and the console on 127.0.0.1, the
# accounts made here, then console.py drives the pages with selenium: sign
# in (keyboard only), create a key and read the secret once (copy, CSV),
# reload and find it gone, disable it and watch the verify endpoint refuse
# it, delete it after re-entering the SecretKey, users, API keys (create,
# edit scope, status switch, delete with a second confirmation), audit,
# sign-out, a sub-user, an ungranted sub-user, session expiry on the
# sessions' test clock; the first-load figures with 20 keys listed.
# Screenshots: tests/console/screenshots/console/ in the build tree.
# Skipped (77) when chromium, chromium-driver or python3-selenium is absent.
. "$(dirname "$0")/../e2e/lib.sh"
TESTNAME=console
. "$(dirname "$0")/lib.sh"
need_browser

console_accounts
# user 150: 20 keys for the first-load figure (made with a higher per-user
# limit for the admin tool only; the service keeps the default 2)
expect_exit 0 lk user add 150
sed 's/^hash:/limits: {keys_per_user: 20}\nhash:/' "$CFG" >"$DIR/many.yaml"
for i in $(seq 20); do
    expect_exit 0 "$LATCHKEY" --config "$DIR/many.yaml" --json key create 150
    [ "$i" != 1 ] || { S150=$(jget AccessKeyId); K150=$(jget SecretAccessKey); }
done
start_daemon
note "serving on $PORT"

browser_shots console
write_creds 100 101 103 150
run_browser console.py LK_CONSOLE_VERIFY="http://127.0.0.1:$((PORT + 1))/verify" LK_CONSOLE_IDLE=600
stop_daemon
note ok
