#!/bin/bash
# bench/apache.sh — requests/s of one Apache location protected by
# mod_authn_latchkey (Bearer API key, warm: every request verifies, the core's
# verified-secret cache answers) against the same static file behind
# `Require all granted`; then the protected location with 10% wrong keys and
# 10% garbage mixed in. Same apache2 (mpm_event), same wrk, one run each.
# Prints the ratios; exits 77 when apache2, wrk or the module is missing.
# Environment: BENCH_SECONDS per run (default 5), BENCH_ROUNDS (default 3),
# BENCH_CONNECTIONS (default 32).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"
. "$LK_SRCDIR/bench/wrk_lib.sh"

HTTPD=$(command -v apache2 2>/dev/null || ls /usr/sbin/apache2 2>/dev/null)
[ -n "$HTTPD" ] && [ -x "$HTTPD" ] || skip "apache2 not installed (apt-get install apache2)"
command -v wrk >/dev/null || skip "wrk not installed (apt-get install wrk)"
APMODS=${APACHE_MODULES:-/usr/lib/apache2/modules}
MOD=$LK_BUILDDIR/.libs/mod_authn_latchkey.so
[ -f "$MOD" ] || skip "mod_authn_latchkey.so not built (apt-get install apache2-dev, then configure)"
need_cli
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNECTIONS:-32}

chmod 755 "$TMP"
USER_LINES=
if [ "$(id -u)" = 0 ]; then
    WUSER=lk$$b
    useradd -M -d /nonexistent -s /usr/sbin/nologin -U "$WUSER" || die "useradd $WUSER"
    cleanup_user() { userdel "$WUSER" 2>/dev/null; }
    CLEANUP_HOOKS+=(cleanup_user)
    mkdir "$TMP/store" && chown "$WUSER:" "$TMP/store" && chmod 700 "$TMP/store"
    write_config "$CONF" "$TMP/store/store.mdb"
    chown "$WUSER:" "$CONF"
    lk() { timeout 20 setpriv --reuid="$WUSER" --regid="$WUSER" --clear-groups "$LK" --config "$CONF" "$@"; }
    USER_LINES="User $WUSER
Group $WUSER"
else
    write_config
fi
init_store
new_user 100 --login alice
new_apikey 100 bench --scope api
AK=$APIKEY

mkdir -p "$TMP/httpd" "$TMP/htdocs/open" "$TMP/htdocs/api"
echo ok >"$TMP/htdocs/open/index.html"
echo ok >"$TMP/htdocs/api/index.html"
[ -n "$USER_LINES" ] && chown -R "$WUSER:" "$TMP/httpd"

PORT=$((26000 + $$ % 20000))
cat >"$TMP/httpd.conf" <<CONF
ServerRoot $TMP/httpd
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
PidFile $TMP/httpd/httpd.pid
ErrorLog $TMP/httpd/error.log
LogLevel ${BENCH_LOGLEVEL:-crit}
$USER_LINES
StartServers 2
ServerLimit 4
ThreadsPerChild 32
MaxRequestWorkers 128
MaxKeepAliveRequests 0
DocumentRoot $TMP/htdocs
LoadModule mpm_event_module $APMODS/mod_mpm_event.so
LoadModule authn_core_module $APMODS/mod_authn_core.so
LoadModule authz_core_module $APMODS/mod_authz_core.so
LoadModule authz_user_module $APMODS/mod_authz_user.so
LoadModule authn_latchkey_module $MOD
LatchkeyConfig $CONF
<Location /open>
    Require all granted
</Location>
<Location /api>
    AuthType latchkey
    AuthName "api"
    LatchkeyService api
    Require valid-user
</Location>
CONF
stop_httpd() {
    [ -s "$TMP/httpd/httpd.pid" ] && kill -TERM "$(cat "$TMP/httpd/httpd.pid")" 2>/dev/null
    sleep 0.5
}
CLEANUP_HOOKS+=(stop_httpd)
env -i PATH="$PATH" LD_LIBRARY_PATH="$LD_LIBRARY_PATH" "$HTTPD" -d "$TMP/httpd" -f "$TMP/httpd.conf" -k start ||
    die "apache2 did not start (port $PORT)"
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/open/index.html" && break; sleep 0.1; done

wrk_key_scripts "$AK"
wrk_warm /api/index.html # opens each child's store and caches the key

# The machine may be shared: the three runs alternate, ROUNDS times, and
# each keeps its best round (other tenants only ever slow a run down).
open_rps=0 api_rps=0 mixed_rps=0 valid_rps=0 api_bad=0
for _ in $(seq "${BENCH_ROUNDS:-3}"); do
    run /open/index.html
    open_rps=$(max "$open_rps" "$RPS")
    run /api/index.html -s "$TMP/key.lua"
    api_rps=$(max "$api_rps" "$RPS")
    api_bad=$((api_bad + BAD))
    run /api/index.html -s "$TMP/mixed.lua"
    mixed_rps=$(max "$mixed_rps" "$RPS")
    valid_rps=$(max "$valid_rps" "$(wrk_valid_rps)")
done

echo "Apache httpd (mpm_event), wrk -t2 -c$CONNS -d${SECS}s, static file, best of ${BENCH_ROUNDS:-3} alternating rounds (load average $(cut -d' ' -f1 /proc/loadavg)):"
printf '  Require all granted:                 %10.0f req/s\n' "$open_rps"
printf '  mod_authn_latchkey (Bearer, warm):   %10.0f req/s (%s refused)\n' "$api_rps" "$api_bad"
awk -v a="$api_rps" -v o="$open_rps" 'BEGIN { printf "  ratio latchkey / granted:            %10.2fx (target >= 0.8x)\n", a / o }'
printf '  mixed 80%% valid, 10%% wrong, 10%% junk: %10.0f req/s, valid %s req/s\n' "$mixed_rps" "$valid_rps"
awk -v v="$valid_rps" -v a="$api_rps" 'BEGIN { printf "  valid rate mixed / clean:            %10.2fx (target >= 0.8x)\n", v / a }'
