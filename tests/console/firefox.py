#!/usr/bin/python3
"""firefox.py -- the key console in a real headless Firefox ESR (issue 21).

Debian packages no geckodriver, so selenium cannot drive Firefox here; Firefox
itself speaks WebDriver BiDi (--remote-debugging-port), which this drives
over a WebSocket (python3-websocket, a Debian package): no download. Driven
by firefox.sh (latchkeyd, the accounts: 100 root alice, 103 carol, a sub-user
not granted). The keyboard for fields (buttons: the pointer, see click()): sign in, My access keys, Create Key
(the secret shown once, Esc forgets it), the Users page's grant (carol
`read`), the audit view, sign-out; carol then lists her keys and is refused
Create Key. Screenshots in LK_CONSOLE_SHOTS; exit 0: passed, 1: failed.
"""
import base64
import json
import os
import re
import subprocess
import sys
import time

import websocket

BASE = os.environ["LK_CONSOLE_BASE"]
SHOTS = os.environ["LK_CONSOLE_SHOTS"]
WORK = os.environ["HOME"]
with open(os.environ["LK_CONSOLE_CREDS"]) as f:
    C = json.load(f)
WAIT = 60  # generous: the machine may be loaded; nothing here is timed pass/fail
TAB, ENTER, ESC = "\ue004", "\ue007", "\ue00c"
SEEN = []

# A profile of its own: nothing fetched from outside the machine, no first-run pages.
PROFILE = os.path.join(WORK, "firefox-profile")
os.makedirs(PROFILE, exist_ok=True)
with open(os.path.join(PROFILE, "user.js"), "w") as f:
    for k, v in (("browser.shell.checkDefaultBrowser", False), ("browser.startup.page", 0),
                 ("browser.startup.homepage_override.mstone", "ignore"), ("datareporting.policy.dataSubmissionEnabled", False),
                 ("toolkit.telemetry.reportingpolicy.firstRun", False), ("network.captive-portal-service.enabled", False),
                 ("network.connectivity-service.enabled", False), ("app.update.disabledForTesting", True),
                 ("browser.safebrowsing.malware.enabled", False), ("browser.safebrowsing.phishing.enabled", False),
                 ("services.settings.server", "http://127.0.0.1:1/"), ("extensions.update.enabled", False)):
        f.write(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n")
FFLOG = os.path.join(WORK, "firefox.log")
ff = subprocess.Popen([os.environ.get("LK_FIREFOX", "firefox-esr"), "--headless", "--no-remote", "--profile", PROFILE,
                       "--remote-debugging-port=0", "--width=1280", "--height=900"],
                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(FFLOG, "w"))


def wait_for(what, probe):
    deadline = time.monotonic() + WAIT
    while True:
        v = probe()
        if v:
            return v
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}")
        time.sleep(0.05)


ws = None
ctx = None
seq = 0


def fail(msg):
    print(f"FAIL [console/firefox]: {msg}", file=sys.stderr)
    if ws is not None:
        try:
            shot("failure")
        except Exception:  # noqa: BLE001 - the failure is what matters
            pass
    ff.kill()
    sys.exit(1)


def note(msg):
    print(f"# [console/firefox] {msg}", flush=True)


def bidi(method, params):
    """One WebDriver BiDi command; its result (events in between are skipped)."""
    global seq
    seq += 1
    ws.send(json.dumps({"id": seq, "method": method, "params": params}))
    while True:
        r = json.loads(ws.recv())
        if r.get("id") == seq:
            if r.get("type") != "success":
                fail(f"{method}: {r.get('error')}: {r.get('message')}")
            return r["result"]


def js(expr):
    """An expression's value in the page, through JSON (awaited when a promise)."""
    r = bidi("script.evaluate", {"expression": f"(async () => JSON.stringify(await ({expr})))()",
                                 "target": {"context": ctx}, "awaitPromise": True})
    if r["type"] != "success":
        fail(f"script {expr!r}: {r['exceptionDetails']['text']}")
    v = r["result"].get("value")
    return None if v is None else json.loads(v)


def text(css):
    return js(f"document.querySelector({json.dumps(css)})?.innerText ?? ''")


def value(css):
    return js(f"document.querySelector({json.dumps(css)})?.value ?? ''")


def ready(page):
    wait_for(f"the {page} page", lambda: js("document.body.dataset.ready") == page)


def keys(s):
    """Typed as a person does: a key down and up for each character."""
    acts = []
    for ch in s:
        acts += [{"type": "keyDown", "value": ch}, {"type": "keyUp", "value": ch}]
    bidi("input.performActions", {"context": ctx, "actions": [{"type": "key", "id": "keyboard", "actions": acts}]})
    bidi("input.releaseActions", {"context": ctx})


def focused():
    return js("document.activeElement?.id ?? ''")


def shown(css, then):
    """Waits for an enabled, displayed element; then runs the script then on it (as e)."""
    return wait_for(css, lambda: js(f"(() => {{ const e = document.querySelector({json.dumps(css)});"
                                    f" if (!e || e.disabled || !e.offsetParent) return false; {then} }})()"))


def press(css, key):
    """Focus a field (as Tab would bring it) and type on it."""
    shown(css, "e.focus(); return true;")
    keys(key)


def click(css):
    """A real pointer click in the middle of an element. (Headless Firefox, driven over BiDi, fires
    trusted key events for Enter or Space on a focused button but no click, even for a bare button
    on about:blank: buttons are clicked with the pointer here; Chromium's test presses them.)"""
    x, y = shown(css, "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                      " return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];")
    bidi("input.performActions", {"context": ctx, "actions": [{"type": "pointer", "id": "mouse", "actions": [
        {"type": "pointerMove", "x": x, "y": y, "origin": "viewport"},
        {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]}]})
    bidi("input.releaseActions", {"context": ctx})


def shot(name):
    data = bidi("browsingContext.captureScreenshot", {"context": ctx})["data"]
    with open(os.path.join(SHOTS, f"{name}.png"), "wb") as f:
        f.write(base64.b64decode(data))


def go(path):
    bidi("browsingContext.navigate", {"context": ctx, "url": BASE + path, "wait": "complete"})


def sign_in(sid, sk):
    go("/console/")
    ready("signin")
    press("#si-id", "")
    keys(sid + TAB)
    if focused() != "si-key":
        fail(f"Tab from SecretId reaches {focused()!r}, not SecretKey")
    keys(sk + ENTER)


def sign_out():
    click("#signout")
    ready("signin")


try:
    url = wait_for("Firefox's WebDriver BiDi address",
                   lambda: (re.search(r"WebDriver BiDi listening on (ws://\S+)", open(FFLOG).read()) or [None, None])[1])
    # no Origin header: Firefox refuses WebSocket clients from web origins it was not told to allow
    ws = websocket.create_connection(url + "/session", suppress_origin=True, timeout=WAIT)
    caps = bidi("session.new", {"capabilities": {}})["capabilities"]
    note(f"{caps['browserName']} {caps['browserVersion']}, headless, over WebDriver BiDi")
    ctx = bidi("browsingContext.getTree", {})["contexts"][0]["context"]

    note("sign in as the root account (keyboard only)")
    sign_in(C["S100"], "not-the-secret-key")
    wait_for("the refusal", lambda: "AuthFailure" in text("#si-error"))
    if value("#si-id") != C["S100"]:
        fail("the SecretId typed was lost on a refusal")
    shot("01-signin-refused")
    sign_in(C["S100"], C["K100"])
    ready("keys")
    drawn = js("performance.getEntriesByName('lk-keys-drawn')[0].startTime")
    note(f"My access keys drawn at {drawn:.0f} ms from navigation start")
    shot("02-my-keys")

    note("Create Key: the secret shown once; Esc closes the dialog and forgets it")
    click("#create-key")
    wait_for("the new pair", lambda: value("#new-key"))
    sid, sk = value("#new-id"), value("#new-key")
    SEEN.append(sk)
    if not sid.startswith("AKID") or len(sk) != 46 or "will not be shown again" not in text("#once"):
        fail(f"the dialog does not show a pair once: {sid}")
    shot("03-create-key-once")
    keys(ESC)
    wait_for("the dialog closed", lambda: not js("document.getElementById('dlg').open"))
    ready("keys")
    if js(f"document.documentElement.outerHTML.includes({json.dumps(sk)})"):
        fail("the SecretKey is still in the page after the dialog closed")
    if sid not in text("#keys-table"):
        fail("the new key is not listed")

    note("Users: grant carol read with the keyboard")
    go("/console/#users")
    ready("users")
    press("#ss-103", "r")
    if value("#ss-103") != "read":
        fail("the keyboard did not choose 'read'")
    keys(TAB)
    if focused() != "ss-103-save":
        fail(f"Tab from the grant reaches {focused()!r}, not its Save button")
    click("#ss-103-save")
    wait_for("the grant saved", lambda: text("#ss-103-msg") == "Saved: read")
    shot("04-users-granted")

    note("audit")
    click("#nav-audit")
    ready("audit")
    if "self-service none → read" not in text("#audit-table"):
        fail("the audit view does not show the grant")
    shot("05-audit")
    bidi("browsingContext.setViewport", {"context": ctx, "viewport": {"width": 390, "height": 844}})
    shot("06-audit-phone")
    bidi("browsingContext.setViewport", {"context": ctx, "viewport": {"width": 1280, "height": 900}})
    sign_out()

    note("carol, granted read: her keys listed, Create Key refused by the API")
    sign_in(C["S103"], C["K103"])
    ready("keys")
    if C["S103"] not in text("#keys-table"):
        fail("carol's key is not listed")
    click("#create-key")
    wait_for("the refusal", lambda: "AuthFailure.UnauthorizedOperation" in text("#keys-error"))
    shot("07-read-only-create-refused")
    sign_out()
    state = js("JSON.stringify({u: location.href, l: Object.entries(localStorage), s: Object.entries(sessionStorage),"
               " c: document.cookie})")
    if any(s in state for s in SEEN):
        fail("a secret is in the URL, storage or a cookie")
    bidi("session.end", {})
except SystemExit:
    raise
except Exception as e:  # noqa: BLE001 - any error fails the test, with a screenshot
    fail(f"{type(e).__name__}: {e}")
finally:
    ff.terminate()
    try:
        ff.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        ff.kill()

with open(os.environ["LK_CONSOLE_LOG"]) as f:
    logs = f.read()
if any(s in logs for s in SEEN):
    fail("a secret is in latchkeyd's log")
note("ok")
