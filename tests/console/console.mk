# The key console (issue 21): its server side with curl (http.sh); the pages
# in a real headless Chromium with selenium (console.sh; grant.sh, the
# issue's "Done means"; proxy.sh, sign-in through the real nginx as the
# trusted proxy; skipped when chromium, chromium-driver or python3-selenium
# is absent), and in Firefox ESR over its own WebDriver BiDi (firefox.sh:
# Debian has no geckodriver; skipped without firefox-esr or python3-websocket).
# browser.py: what the selenium tests share.
TESTS += tests/console/http.sh tests/console/console.sh tests/console/grant.sh tests/console/proxy.sh tests/console/firefox.sh
EXTRA_DIST += tests/console/http.sh tests/console/console.sh tests/console/grant.sh tests/console/console.py tests/console/lib.sh \
	tests/console/browser.py tests/console/grant.py tests/console/proxy.sh tests/console/proxy.py \
	tests/console/firefox.sh tests/console/firefox.py
# The browser test's screenshots are test output: cleaned like test logs
# (distcheck's distcleancheck lists any file left behind).
CLEANFILES += tests/console/screenshots/*/*.png
