#!/bin/bash
# proxy.sh — single sign-on through the trusted proxy header, in a real
# headless Chromium (issue 21): the real nginx (Debian's) in front of
# latchkeyd's daemon.manage listener, connecting from 127.0.0.2 (the one
# address in daemon.manage.trusted_proxies) and setting the configured login
# header (daemon.manage.user_header: X-Webauth-User) to bob, as an SSO proxy
# (oauth2-proxy and the like) sets the login it authenticated. Through nginx
# the browser arrives signed in as bob and manages his keys (delete: the
# SecretId typed, there being no SecretKey to re-enter); the same header sent
# by the browser straight to latchkeyd (127.0.0.1, not trusted) is ignored:
# the sign-in page, and latchkeyd's log says so.
# Screenshots: tests/console/screenshots/proxy/ in the build tree.
# Skipped (77) when nginx, chromium, chromium-driver or python3-selenium is absent.
. "$(dirname "$0")/../e2e/lib.sh"
TESTNAME=proxy
. "$(dirname "$0")/lib.sh"
need_browser
NGINX=$(command -v nginx 2>/dev/null || ls /usr/sbin/nginx 2>/dev/null || :)
[ -n "$NGINX" ] && [ -x "$NGINX" ] || skip "nginx is not installed (Debian: apt-get install nginx)"
# 127.0.0.2 stands for the proxy's own address: Linux answers on all of 127/8
_rc=0
curl -s -o /dev/null --interface 127.0.0.2 "http://127.0.0.1:1/" 2>/dev/null || _rc=$?
[ "$_rc" != 45 ] || skip "this machine cannot use 127.0.0.2 as a source address"

console_accounts
start_daemon
note "latchkeyd on $PORT"

# nginx on the next free port: its own prefix, logs and temp files under $WORK
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
nginx_conf() {
    cat <<CONF
worker_processes 1;
error_log $WORK/nginx/logs/error.log info;
events { worker_connections 64; }
http {
    access_log $WORK/nginx/logs/access.log;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$1;
        location / {
            proxy_pass http://127.0.0.1:$PORT;
            proxy_bind 127.0.0.2;
            proxy_buffering off;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$remote_addr;
            # what an SSO proxy sets once it has authenticated the person
            # (replacing any such header the client sent)
            proxy_set_header X-Webauth-User bob;
        }
    }
}
CONF
}
NGINX_PID=
stop_nginx() {
    [ -z "$NGINX_PID" ] || { kill -QUIT "$NGINX_PID" 2>/dev/null || :; wait "$NGINX_PID" 2>/dev/null || :; }
    NGINX_PID=
}
trap 'stop_nginx; stop_daemon_on_exit' EXIT
NPORT=$((PORT + 2))
for _ in 1 2 3 4 5 6 7 8 9 10; do
    nginx_conf "$NPORT" >"$WORK/nginx/nginx.conf"
    : >"$WORK/nginx/logs/error.log"
    "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g "daemon off; pid $WORK/nginx/nginx.pid;" \
        >"$WORK/nginx/out" 2>&1 &
    NGINX_PID=$!
    _i=0
    until curl -s -o /dev/null "http://127.0.0.1:$NPORT/console/"; do
        kill -0 "$NGINX_PID" 2>/dev/null || break
        _i=$((_i + 1))
        [ $_i -lt 600 ] || fail "nginx did not start: $(cat "$WORK/nginx/out")"
        sleep 0.05
    done
    kill -0 "$NGINX_PID" 2>/dev/null && break
    wait "$NGINX_PID" 2>/dev/null || :
    NGINX_PID=
    grep -q "Address already in use" "$WORK/nginx/out" "$WORK/nginx/logs/error.log" ||
        fail "nginx exited at start: $(cat "$WORK/nginx/out")"
    NPORT=$((NPORT + 1))
done
[ -n "$NGINX_PID" ] || fail "no free port for nginx"
note "nginx on $NPORT, in front of latchkeyd"

browser_shots proxy
write_creds 101
run_browser proxy.py LK_CONSOLE_BASE="http://127.0.0.1:$NPORT" LK_CONSOLE_DIRECT="http://127.0.0.1:$PORT"
grep -q "ignored X-Webauth-User 'b.*' from 127.0.0.1, which is not a trusted proxy" "$LOG.cur" ||
    fail "latchkeyd's log does not say it ignored the header sent directly"
stop_nginx
stop_daemon
note ok
