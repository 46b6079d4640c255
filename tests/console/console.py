#!/usr/bin/python3
"""console.py -- the key console in a real headless Chromium (issue 21).

Driven by console.sh, which starts latchkeyd and makes the accounts. Reads
the accounts' credentials from the JSON file named by LK_CONSOLE_CREDS
(never argv), writes screenshots to LK_CONSOLE_SHOTS, prints the first-load
figures. Exit 0: every step passed; 1: a step failed (said on stderr).
"""
import os
import time

from browser import (C, BASE, SEEN, WAIT, By, wait, click, create_key, delete_key, dialog_closed, drv, by_id, fail,
                     no_secret_logged, no_secret_stored, note, ready, set_status, shot, sign_in, sign_out, text)
from browser import verify as verify_at

VERIFY = os.environ["LK_CONSOLE_VERIFY"]      # http://127.0.0.1:PORT/verify (the verify endpoint)
DOWNLOADS = os.environ["LK_CONSOLE_DOWNLOADS"]
CLOCK = os.environ["LATCHKEYD_TEST_SESSION_CLOCK"]
IDLE = int(os.environ["LK_CONSOLE_IDLE"])
drv.execute_cdp_cmd("Browser.grantPermissions", {"origin": BASE, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})


def verify(sid, sk):
    return verify_at(VERIFY, sid, sk)


def set_clock_ahead(seconds):
    with open(CLOCK) as f:
        now = int(f.read().strip())
    with open(CLOCK + ".new", "w") as f:
        f.write(str(now + seconds))
    os.replace(CLOCK + ".new", CLOCK)


# ---------------------------------------------------------------- sign-in and the root's keys
note("sign in as the root account (keyboard only)")
drv.get(BASE + "/console/")
ready("signin")
shot("01-signin")
sign_in(C["S100"], "not-the-secret-key", keyboard=True)
wait.until(lambda d: "AuthFailure" in text("#si-error"))
if drv.find_element(By.ID, "si-id").get_attribute("value") != C["S100"]:
    fail("the SecretId typed was lost on a refusal")
shot("02-signin-refused")
sign_in(C["S100"], C["K100"], keyboard=True)
ready("keys")
if drv.find_element(By.ID, "nav-users").is_displayed() is False:
    fail("a root account does not see Users")
shot("03-my-keys")

note("create a key: the secret shown once, copy, CSV")
new_id, new_sk = create_key()
if "will not be shown again" not in text("#once"):
    fail("the dialog does not say the secret will not be shown again")
shot("04-create-key-once")
click("#new-key-copy")
clip = drv.execute_async_script("const done = arguments[0]; navigator.clipboard.readText().then(done, () => done(null));")
if clip != new_sk:
    fail("Copy did not put the SecretKey on the clipboard")
click("#csv")
csv = os.path.join(DOWNLOADS, "accessKeys.csv")
deadline = time.monotonic() + WAIT
while not (os.path.exists(csv) and os.path.getsize(csv) > 0):
    if time.monotonic() > deadline:
        fail("no CSV downloaded")
    time.sleep(0.1)
with open(csv, newline="") as f:
    body = f.read()
if body != f"SecretId,SecretKey\r\n{new_id},{new_sk}\r\n":
    fail("the CSV is not SecretId,SecretKey with the pair")
no_secret_stored()
click("#close-new")
dialog_closed()
ready("keys")
if new_sk in drv.page_source:
    fail("the SecretKey is still in the page after the dialog closed")
drv.refresh()
ready("keys")
if new_sk in drv.page_source:
    fail("the SecretKey came back after a reload")
if new_id not in drv.page_source:
    fail("the new key is not listed")
if verify(new_id, new_sk) != 200:
    fail("the new key does not verify")

note("two keys: Create disabled with the reason")
if drv.find_element(By.ID, "create-key").is_enabled():
    fail("Create Key is enabled at two keys")
if "at most 2" not in text("#create-why"):
    fail("the disabled Create Key does not say why")
shot("05-two-keys")

note("disable the key: the verify endpoint refuses it")
click(f"button[data-op=disable][data-key={new_id}]")
shot("06-disable-confirm")
click("#dlg-confirm")
dialog_closed()
wait.until(lambda d: text(f"tr[data-key={new_id}] td:nth-child(2)") == "Inactive")
if verify(new_id, new_sk) == 200:
    fail("a disabled key still verifies")

note("more access records")
click(f"button[data-op=records][data-key={C['S100']}]")
wait.until(lambda d: "latest records" in text("#dlg-body"))
shot("07-access-records")
click("#close-records")
dialog_closed()

note("delete only after re-entering the SecretKey")
if not drv.find_element(By.CSS_SELECTOR, f"button[data-op=delete][data-key={C['S100']}]").get_attribute("disabled"):
    fail("Delete is offered for an Active key")
click(f"button[data-op=delete][data-key={new_id}]")
by_id("reauth").send_keys("LKSKwrongwrongwrongwrongwrongwrongwrongwrong00")
click("#dlg-confirm")
wait.until(lambda d: "AuthFailure." in text("#dlg-error"))
if drv.find_element(By.ID, "reauth").get_attribute("value") == "":
    fail("the SecretKey typed was lost on a refusal")
shot("08-delete-wrong-secret")
r = drv.find_element(By.ID, "reauth")
r.clear()
r.send_keys(C["K100"])
click("#dlg-confirm")
dialog_closed()
ready("keys")
if new_id in drv.page_source:
    fail("the deleted key is still listed")

# ---------------------------------------------------------------- users, API keys, audit
note("users")
click("#nav-users")
ready("users")
shot("09-users")
click("a[href='#user/101']")
ready("keys")
if C["S101"] not in drv.page_source:
    fail("user 101's keys are not shown")
shot("10-user-keys")

note("API keys: create, edit scope, status switch, delete with a second confirmation")
click("#nav-apikeys")
ready("apikeys")
click("#create-apikey")
by_id("ak-name").send_keys("ci-console")
by_id("ak-desc").send_keys("made by the browser test")
by_id("ak-scope").send_keys("chat")
by_id("ak-allow").send_keys("127.0.0.1\n10.0.0.0/8")
by_id("ak-expire").send_keys("not a time")
click("#dlg-confirm")
wait.until(lambda d: "InvalidParameter" in text("#dlg-error"))
if by_id("ak-name").get_attribute("value") != "ci-console" or "10.0.0.0/8" not in by_id("ak-allow").get_attribute("value"):
    fail("what was typed in the create dialog was lost on a refusal")
shot("11-apikey-refused")
by_id("ak-expire").clear()
click("#dlg-confirm")
ak = by_id("new-apikey").get_attribute("value")
SEEN.append(ak)
if not ak.startswith("lk-"):
    fail(f"no API key shown: {ak[:3]}")
shot("12-apikey-once")
click("#new-apikey-copy")
click("#close-new")
dialog_closed()
ready("apikeys")
if ak in drv.page_source:
    fail("the API key is still in the page")
row = "#apikeys-table tr[data-key]"
if "chat" not in text(row) or "***" not in text(row):
    fail(f"the API key row: {text(row)}")
shot("13-apikeys")
click(f"{row} button[data-op=edit]")
s = by_id("ak-scope")
s.clear()
s.send_keys("chat, embed")
click("#dlg-confirm")
dialog_closed()
ready("apikeys")
if "chat, embed" not in text(row):
    fail("the edited scope is not shown")
click(f"{row} input[data-op=switch]")
wait.until(lambda d: "Inactive" in text(row))
click(f"{row} button[data-op=delete]")
click("#dlg-confirm")
second = by_id("second")
if "ci-console" not in second.text:
    fail("the second confirmation does not name the key")
shot("14-apikey-delete-second")
click("#dlg-confirm2")
dialog_closed()
ready("apikeys")
if drv.find_elements(By.CSS_SELECTOR, row):
    fail("the deleted API key is still listed")

note("audit")
click("#nav-audit")
ready("audit")
if "key.delete" not in drv.page_source or "apikey.delete" not in drv.page_source:
    fail("the audit does not show the deletions")
by_id("audit-user").send_keys("101")
click("#audit-form button")
ready("audit")
shot("15-audit")
no_secret_stored()

note("sign out")
sign_out()
drv.get(BASE + "/console/#keys")
ready("signin")
shot("16-signed-out")

# ---------------------------------------------------------------- a sub-user granted manage
note("a sub-user: no Users, not its root's keys; creates, disables and deletes its own key")
sign_in(C["S101"], C["K101"])
ready("keys")
if drv.find_element(By.ID, "nav-users").is_displayed():
    fail("a sub-user sees Users in the menu")
drv.get(BASE + "/console/#users")
wait.until(lambda d: "AuthFailure.UnauthorizedOperation" in text("#view"))
shot("17-subuser-users-refused")
drv.get(BASE + "/console/#user/100")
wait.until(lambda d: "OperationDenied.SubUin" in text("#view"))
drv.get(BASE + "/console/#keys")
ready("keys")
bob_id, _ = create_key(close=True)
set_status(bob_id, "disable", "Inactive")
delete_key(bob_id, C["K101"])
shot("18-subuser-keys")
drv.set_window_size(390, 844)
shot("19-subuser-keys-phone")
drv.set_window_size(1280, 900)
sign_out()

note("an ungranted sub-user sees why")
sign_in(C["S103"], C["K103"])
wait.until(lambda d: "AuthFailure.UnauthorizedOperation" in text("#keys-error"))
if "self-service 'none'" not in text("#keys-error"):
    fail(f"the refusal does not say why: {text('#keys-error')}")
shot("20-ungranted")
sign_out()

# ---------------------------------------------------------------- session expiry
note("session expiry (the sessions' test clock)")
sign_in(C["S100"], C["K100"])
ready("keys")
set_clock_ahead(IDLE + 1)
click("#nav-apikeys")
wait.until(lambda d: "AuthFailure.SessionExpired" in text("#si-error"))
shot("21-session-expired")

# ---------------------------------------------------------------- the first-load figure
note("first load with 20 keys listed")
sign_in(C["S150"], C["K150"])
ready("keys")
drv.execute_cdp_cmd("Network.enable", {})
drv.execute_cdp_cmd("Network.clearBrowserCache", {})
drv.execute_script("document.body.dataset.ready = 'old'")
drv.refresh()  # a new document (a hash change alone would not load one)
ready("keys")
n = len(drv.find_elements(By.CSS_SELECTOR, "#keys-table tbody tr"))
if n != 20:
    fail(f"{n} keys listed, not 20")
if "…" in text("#keys-table"):
    fail("LastAccessTime is not filled in for every key (GetSecurityLastUsed takes 10 a call)")
fig = drv.execute_script(
    "const e = performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'));"
    "return {bytes: e.reduce((a, x) => a + (x.transferSize || 0), 0), files: e.length,"
    " drawn: performance.getEntriesByName('lk-keys-drawn')[0].startTime};")
print(f"console first load: {fig['bytes']} bytes transferred in {fig['files']} requests (target < 150 KB); "
      f"table of 20 keys drawn at {fig['drawn']:.0f} ms (target < 300 ms)")
steps = drv.execute_script(
    "const n = performance.getEntriesByType('navigation')[0];"
    "return [['document', n.responseEnd], ['DOMContentLoaded', n.domContentLoadedEventEnd]].concat("
    " performance.getEntriesByType('resource').filter((r) => r.initiatorType === 'fetch')"
    " .map((r) => [r.name.replace(location.origin, ''), r.responseEnd]));")
print("  (ms from navigation start: " + ", ".join(f"{n} {t:.0f}" for n, t in steps) + ")")
shot("22-twenty-keys")
no_secret_stored()
drv.quit()
no_secret_logged()
note("ok")
