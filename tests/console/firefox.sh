#!/bin/bash
# firefox.sh — the key console in a real headless Firefox ESR (issue 21),
# keyboard only: sign in, Create Key (the secret once), the Users page's
# grant, the audit view, sign-out, a read-only sub-user refused Create Key.
# Debian packages no geckodriver (what selenium needs for Firefox), so
# firefox.py drives Firefox's own WebDriver BiDi over a WebSocket with
# python3-websocket: Debian packages only, nothing downloaded.
# Screenshots: tests/console/screenshots/firefox/ in the build tree.
# Skipped (77) when firefox-esr or python3-websocket is absent.
. "$(dirname "$0")/../e2e/lib.sh"
TESTNAME=firefox
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
FIREFOX=$(command -v firefox-esr || command -v firefox || :)
[ -n "$FIREFOX" ] || skip "Firefox ESR is not installed (Debian: apt-get install firefox-esr)"
"$PY" -c 'import websocket' 2>/dev/null || skip "python3-websocket is not installed (Debian: apt-get install python3-websocket)"

console_accounts
start_daemon
note "serving on $PORT"

browser_shots firefox
write_creds 100 103
run_browser firefox.py LK_FIREFOX="$FIREFOX"
stop_daemon
note ok
