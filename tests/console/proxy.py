#!/usr/bin/python3
"""proxy.py -- single sign-on through the trusted proxy header, in a real headless Chromium.

Driven by proxy.sh: LK_CONSOLE_BASE is nginx, the trusted proxy that names
bob (user 101, granted manage) in X-Webauth-User; LK_CONSOLE_DIRECT is
latchkeyd's own listener. Exit 0: every step passed, 1: a step failed.
"""
import os

from browser import (BASE, C, By, create_key, delete_key, drv, fail, no_secret_logged,
                     no_secret_stored, note, ready, set_status, shot, text)

DIRECT = os.environ["LK_CONSOLE_DIRECT"]

note("through the proxy: arrives signed in as bob, with no sign-in page")
drv.get(BASE + "/console/")
ready("keys")
who = text("#whoami")
if "User 101" not in who or "bob" not in who:
    fail(f"not signed in as bob (101) through the proxy: {who!r}")
if drv.find_element(By.ID, "signin").is_displayed():
    fail("the sign-in form is shown behind the proxy")
if C["S101"] not in drv.page_source:
    fail("bob's own key is not listed")
shot("01-proxy-signed-in")

note("through the proxy: bob creates, disables and deletes a key (delete: the SecretId typed)")
new_id, _ = create_key(close=True)
set_status(new_id, "disable", "Inactive")
delete_key(new_id, new_id, "02-proxy-delete-confirm")
shot("03-proxy-deleted")
no_secret_stored()

note("straight to latchkeyd with the same header: ignored, the sign-in page")
drv.delete_all_cookies()  # cookies are per host, not port: the proxy's session would be sent too
drv.execute_cdp_cmd("Network.enable", {})
drv.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-Webauth-User": "bob"}})
drv.get(DIRECT + "/console/")
ready("signin")
if text("#whoami"):
    fail(f"signed in by a header sent directly: {text('#whoami')!r}")
shot("04-direct-header-ignored")
drv.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
drv.quit()
no_secret_logged()
note("ok")
