#!/usr/bin/python3
"""grant.py -- issue 21's "Done means" in a real headless Chromium.

Driven by grant.sh (latchkeyd, the accounts: 100 root alice, 103 carol, a
sub-user not granted self-service, 104 dave, another). Screenshots of each
step; exit 0: every step passed, 1: a step failed (said on stderr).
"""
import os
import subprocess

from browser import (C, Keys, by_id, click, create_key, delete_key, dialog_closed, drv, fail, no_secret_logged,
                     no_secret_stored, note, ready, set_status, shot, sign_in, sign_out, text, wait)

ROOT, SUB = "100", "103"


def grant_value(uin):
    return drv.execute_script(f"return document.getElementById('ss-{uin}').value")


note("carol, not granted, signs in and is refused her keys")
sign_in(C["S103"], C["K103"])
wait.until(lambda d: "AuthFailure.UnauthorizedOperation" in text("#keys-error"))
shot("01-carol-not-granted")
sign_out()

note("alice (root) signs in; the Users page shows each member's grant")
sign_in(C["S100"], C["K100"], keyboard=True)
ready("keys")
click("#nav-users")
ready("users")
if grant_value(SUB) != "none" or grant_value("101") != "manage":
    fail(f"the grants shown are not the store's: 103 {grant_value(SUB)}, 101 {grant_value('101')}")
label = drv.execute_script(f"return document.querySelector('label[for=ss-{SUB}]').textContent")
if label != f"Self-service of user {SUB}":
    fail(f"the grant control is not labelled: {label!r}")
shot("02-users")

note("the grant refused: a user deleted meanwhile (InvalidParameter.UserNotExist next to it, the choice kept)")
subprocess.run(os.environ["LK_CONSOLE_DELETE_104"], shell=True, check=True, stdin=subprocess.DEVNULL,
               stdout=subprocess.DEVNULL)
s104 = by_id("ss-104")
s104.send_keys("r")  # a focused select takes its option's first letter, as a person types it
if grant_value("104") != "read":
    fail("the keyboard did not choose 'read'")
drv.switch_to.active_element.send_keys(Keys.TAB)
drv.switch_to.active_element.send_keys(Keys.ENTER)
wait.until(lambda d: "InvalidParameter.UserNotExist" in text("#ss-104-error"))
if grant_value("104") != "read":
    fail("the grant chosen was lost when the API refused it")
if "not saved" not in text("#ss-104-msg"):
    fail(f"the refused grant does not say it was not saved: {text('#ss-104-msg')!r}")
shot("03-grant-refused")

note("alice grants carol manage with the keyboard")
by_id(f"ss-{SUB}").send_keys("m")
if grant_value(SUB) != "manage":
    fail("the keyboard did not choose 'manage'")
drv.switch_to.active_element.send_keys(Keys.TAB)
if drv.switch_to.active_element.get_attribute("id") != f"ss-{SUB}-save":
    fail("Tab from the grant does not reach its Save button")
drv.switch_to.active_element.send_keys(Keys.ENTER)
wait.until(lambda d: text(f"#ss-{SUB}-msg") == "Saved: manage")
if text(f"#ss-{SUB}-error"):
    fail(f"the grant was refused: {text(f'#ss-{SUB}-error')}")
shot("04-granted-manage")
drv.set_window_size(390, 844)  # a phone-sized screen: the grant control still usable
shot("04-granted-manage-phone")
drv.set_window_size(1280, 900)
drv.refresh()  # what the store now says, not what the page remembers
ready("users")
if grant_value(SUB) != "manage":
    fail(f"after a reload the grant is {grant_value(SUB)}, not manage")
sign_out()
shot("05-alice-signed-out")

note("carol signs in and creates, disables and deletes her own key")
sign_in(C["S103"], C["K103"])
ready("keys")
if text("#keys-error"):
    fail(f"carol, granted manage, is refused her keys: {text('#keys-error')}")
shot("06-carol-keys")
new_id, _ = create_key()
shot("07-carol-created")
click("#close-new")
dialog_closed()
ready("keys")
set_status(new_id, "disable", "Inactive")
shot("08-carol-disabled")
delete_key(new_id, C["K103"], "09-carol-delete-verify", enter=True)
shot("10-carol-deleted")
no_secret_stored()
sign_out()

note("alice's audit view: each step, with carol's UIN")
sign_in(C["S100"], C["K100"])
ready("keys")
click("#nav-audit")
ready("audit")
by_id("audit-user").send_keys(SUB)
click("#audit-form button")
ready("audit")
rows = drv.execute_script(
    "return [...document.querySelectorAll('#audit-table tbody tr')].map((r) => [...r.cells].map((c) => c.innerText));")
# columns: Time, Who, Action, Key / target, User, Changes


def row(action, target, who):
    for r in rows:
        if r[2] == action and target in r[3] and r[4] == SUB and r[1].startswith(f"{who} "):
            return r
    fail(f"the audit view has no {action} of {target} by {who} on user {SUB}: {rows}")


g = row("user.edit", SUB, ROOT)
if "manage" not in g[5]:
    fail(f"the grant's audit entry does not say manage: {g}")
for action in ("key.create", "key.disable", "key.delete"):
    r = row(action, new_id, SUB)
    if C["S103"] not in r[1]:
        fail(f"{action} is not recorded with the SecretId carol signed in with: {r}")
shot("11-audit")
drv.quit()
no_secret_logged()
note("ok")
