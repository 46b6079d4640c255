#!/bin/bash
# grant.sh — issue 21's "Done means" in a real headless Chromium: the root
# account (100, alice) signs in, grants its ungranted sub-user (103, carol)
# `manage` on the Users page with the keyboard, signs out; carol signs in and
# creates, disables and deletes her own key (delete after re-entering her
# SecretKey); alice's audit view shows each step with carol's UIN. Also the
# grant control's refusal: a user deleted meanwhile (with the admin tool)
# answers InvalidParameter.UserNotExist next to the control, the chosen
# grant kept. Screenshots: tests/console/screenshots/grant/ in the build tree.
# Skipped (77) when chromium, chromium-driver or python3-selenium is absent.
. "$(dirname "$0")/../e2e/lib.sh"
TESTNAME=grant
. "$(dirname "$0")/lib.sh"
need_browser

console_accounts
expect_exit 0 lk user add 104 --kind sub-user --root 100 --login dave
start_daemon
note "serving on $PORT"

browser_shots grant
write_creds 100 103
run_browser grant.py LK_CONSOLE_DELETE_104="$LATCHKEY --config $CFG user delete 104 --force"
stop_daemon
note ok
