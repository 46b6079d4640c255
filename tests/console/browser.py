"""browser.py -- what the console's browser tests share (issue 21): a
headless Chromium driven by selenium, and the steps a person takes.

Imported by console.py, grant.py and proxy.py, each run by its .sh, which
starts latchkeyd. Environment: LK_CONSOLE_BASE (the console's origin),
LK_CONSOLE_SHOTS (the screenshots' directory), LK_CONSOLE_LOG (latchkeyd's
log, searched for secrets at the end), LK_CHROMIUM, LK_CHROMEDRIVER,
LK_CONSOLE_DOWNLOADS (optional: where downloads go), LK_CONSOLE_CREDS (a
JSON file of the accounts' pairs: never argv). Nothing here is timed
pass/fail: every wait is on an event, with a generous deadline.
"""
import base64
import json
import os
import sys
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ["LK_CONSOLE_BASE"]
SHOTS = os.environ["LK_CONSOLE_SHOTS"]
NAME = os.path.basename(sys.argv[0]).removesuffix(".py")
with open(os.environ["LK_CONSOLE_CREDS"]) as f:
    C = json.load(f)
WAIT = 60  # generous: the machine may be loaded
SEEN = []  # every secret seen, to look for afterwards

opts = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
          "--disable-extensions", "--no-first-run", "--disable-background-networking"):
    opts.add_argument(a)
opts.binary_location = os.environ.get("LK_CHROMIUM", "/usr/bin/chromium")
drv = webdriver.Chrome(service=Service(os.environ.get("LK_CHROMEDRIVER", "/usr/bin/chromedriver")), options=opts)
if os.environ.get("LK_CONSOLE_DOWNLOADS"):
    drv.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": os.environ["LK_CONSOLE_DOWNLOADS"]})
wait = WebDriverWait(drv, WAIT)


def _uncaught(kind, value, tb):
    """A step that raised (a wait that timed out): its traceback, a screenshot, the browser ended."""
    sys.__excepthook__(kind, value, tb)
    try:
        shot("failure")
        drv.quit()
    except Exception:  # noqa: BLE001 - the failure is what matters
        pass


sys.excepthook = _uncaught


def fail(msg):
    print(f"FAIL [console/{NAME}]: {msg}", file=sys.stderr)
    try:
        shot("failure")
        drv.quit()
    except Exception:  # noqa: BLE001 - the failure is what matters
        pass
    sys.exit(1)


def note(msg):
    print(f"# [console/{NAME}] {msg}", flush=True)


def shot(name):
    drv.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def by_id(i):
    return wait.until(EC.visibility_of_element_located((By.ID, i)))


def ready(page):
    wait.until(lambda d: d.execute_script("return document.body.dataset.ready") == page)


def click(css):
    el = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, css)))
    el.click()
    return el


def dialog_closed():
    wait.until(lambda d: not d.execute_script("return document.getElementById('dlg').open"))


def text(css):
    """The text of the first element css selects ("" for none), read in the page: never stale."""
    return drv.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css)


def verify(url, sid, sk):
    """The verify endpoint's HTTP status for a pair."""
    req = urllib.request.Request(url, headers={"Authorization": "Basic " + base64.b64encode(f"{sid}:{sk}".encode()).decode()})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def no_secret_stored():
    """No secret seen so far in the URL, history, storage or a cookie."""
    state = drv.execute_script(
        "return JSON.stringify({u: location.href, h: history.length, l: Object.entries(localStorage),"
        " s: Object.entries(sessionStorage), c: document.cookie})")
    cookies = json.dumps(drv.get_cookies())
    for s in SEEN:
        if s in state or s in cookies:
            fail("a secret is in the URL, storage or a cookie")


def no_secret_logged():
    with open(os.environ["LK_CONSOLE_LOG"]) as f:
        logs = f.read()
    for s in SEEN:
        if s in logs:
            fail("a secret is in latchkeyd's log")


def sign_in(sid, sk, keyboard=False):
    drv.get(BASE + "/console/")
    ready("signin")
    i = by_id("si-id")
    i.clear()
    if keyboard:  # the keyboard alone: type, Tab, type, Enter
        i.send_keys(sid, Keys.TAB)
        drv.switch_to.active_element.send_keys(sk, Keys.ENTER)
    else:
        i.send_keys(sid)
        by_id("si-key").send_keys(sk)
        click("#si-submit")


def sign_out():
    click("#signout")
    ready("signin")


def create_key(close=False):
    """Create Key on the page shown: the new SecretId and SecretKey shown once (close: the dialog
    then closed and the page drawn again)."""
    click("#create-key")
    sid = by_id("new-id").get_attribute("value")
    sk = by_id("new-key").get_attribute("value")
    SEEN.append(sk)
    if not sid.startswith("AKID") or len(sk) != 46:
        fail(f"the dialog does not show a pair: {sid}")
    if close:
        click("#close-new")
        dialog_closed()
        ready("keys")
    return sid, sk


def set_status(sid, op, status):
    """Disable (or Enable) a key with its confirmation; waits for the new status in its row."""
    click(f"button[data-op={op}][data-key={sid}]")
    click("#dlg-confirm")
    dialog_closed()
    wait.until(lambda d: text(f"tr[data-key={sid}] td:nth-child(2)") == status)


def delete_key(sid, reentered, shot_name=None, enter=False):
    """Delete a (disabled) key after re-entering the SecretKey (or, behind the proxy, its SecretId);
    shot_name: a screenshot of the dialog, filled in, before Delete; enter: confirm with the Enter
    key in the field, as a person at the keyboard does, rather than the Delete button."""
    click(f"button[data-op=delete][data-key={sid}]")
    by_id("reauth").send_keys(reentered)
    if shot_name:
        shot(shot_name)
    if enter:
        by_id("reauth").send_keys(Keys.ENTER)
    else:
        click("#dlg-confirm")
    dialog_closed()
    ready("keys")
    if drv.find_elements(By.CSS_SELECTOR, f"tr[data-key={sid}]"):
        fail(f"the deleted key {sid} is still listed")
