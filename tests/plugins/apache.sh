#!/bin/bash
# apache.sh — mod_authn_latchkey.so inside the real Apache httpd (Debian's
# apache2 binary, mpm_event) on 127.0.0.1 and a free port, with a private
# ServerRoot and configuration: nothing of the system's Apache is read or
# touched. A tiny CGI echoes REMOTE_USER and LATCHKEY_UIN. Driven by curl:
# Basic through AuthBasicProvider latchkey (SecretId:SecretKey, login + API
# key, key id + API key, another account's login refused), AuthType latchkey
# (Bearer and X-Api-Key: 401 with WWW-Authenticate, also for scope,
# allowlist and a key disabled with the admin tool on the very next request:
# refused before the secret is checked, they get a wrong secret's answer), the
# client address from a trusted proxy's header only.
# As root, httpd's children run as a scratch Unix user that owns the store
# (the admin CLI runs as that user too); as another user, as that user.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"

HTTPD=$(command -v apache2 2>/dev/null || ls /usr/sbin/apache2 2>/dev/null)
[ -n "$HTTPD" ] && [ -x "$HTTPD" ] || skip "apache2 not installed (apt-get install apache2)"
command -v curl >/dev/null || skip "curl not installed (apt-get install curl)"
APMODS=${APACHE_MODULES:-/usr/lib/apache2/modules}
for m in mpm_event authn_core authz_core authz_user auth_basic alias cgi headers; do
    [ -f "$APMODS/mod_$m.so" ] || skip "$APMODS/mod_$m.so not found (apt-get install apache2)"
done
MOD=$LK_BUILDDIR/.libs/mod_authn_latchkey.so
[ -f "$MOD" ] || skip "mod_authn_latchkey.so not built (apt-get install apache2-dev, then configure)"
need_cli

check "exports only authn_latchkey_module" "authn_latchkey_module" \
    "$(nm -D --defined-only "$MOD" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort | tr '\n' ' ' | sed 's/ $//')"

chmod 755 "$TMP"
USER_LINES=
if [ "$(id -u)" = 0 ]; then
    # httpd refuses to serve as root: a scratch user owns the store and runs
    # the children; the admin CLI runs as it too (a store owned by another
    # non-root user is refused).
    command -v useradd >/dev/null || skip "useradd not found"
    WUSER=lk$$w
    useradd -M -d /nonexistent -s /usr/sbin/nologin -U "$WUSER" || die "useradd $WUSER"
    cleanup_user() { userdel "$WUSER" 2>/dev/null; }
    CLEANUP_HOOKS+=(cleanup_user)
    mkdir "$TMP/store" && chown "$WUSER:" "$TMP/store" && chmod 700 "$TMP/store"
    write_config "$CONF" "$TMP/store/store.mdb"
    chown "$WUSER:" "$CONF"
    # The build tree may be out of that user's reach (tests/ci/sanitize.sh
    # builds in a 0700 scratch directory): it runs copies of the CLI and the
    # library from $TMP.
    mkdir "$TMP/bin" && cp "$LK_BUILDDIR/.libs/latchkey" "$LK_BUILDDIR"/.libs/liblatchkey.so* "$TMP/bin/" ||
        die "cannot copy the CLI"
    chmod -R a+rX "$TMP/bin"
    lk() {
        timeout 20 setpriv --reuid="$WUSER" --regid="$WUSER" --clear-groups \
            env LD_LIBRARY_PATH="$TMP/bin" "$TMP/bin/latchkey" --config "$CONF" "$@"
    }
    USER_LINES="User $WUSER
Group $WUSER"
else
    write_config
fi
init_store

new_user 100 --login alice
new_key 100
A_ID=$KEY_ID
A_SECRET=$KEY_SECRET
new_apikey 100 web-and-api --scope web,api --allow-ip 127.0.0.1/32
AK=$APIKEY
AK_ID=$APIKEY_ID
new_apikey 100 web-only --scope web
AK_WEB=$APIKEY
new_apikey 100 far-away --scope api --allow-ip 10.0.0.0/8
AK_FAR=$APIKEY
new_apikey 100 to-disable --scope api
AK_DIS=$APIKEY
AK_DIS_ID=$APIKEY_ID
new_user 200 --login bob
new_apikey 200 bob-web --scope web
BK=$APIKEY
new_user 300 # no login bound: REMOTE_USER is the UIN
new_apikey 300 carol-api --scope api
CK=$APIKEY

# A configuration whose store does not exist: every request fails closed.
write_config "$TMP/broken.yaml" "$TMP/no-such-dir/store.mdb"
[ -n "$USER_LINES" ] && chown "$WUSER:" "$TMP/broken.yaml"
mkdir -p "$TMP/httpd/logs" "$TMP/cgi" "$TMP/htdocs"
cat >"$TMP/cgi/echo.cgi" <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\n\n'
printf 'user=%s uin=%s key=%s\n' "$REMOTE_USER" "$LATCHKEY_UIN" "$LATCHKEY_KEY_ID"
[ -z "${HTTP_X_LATCHKEY_UIN:-}" ] || printf ' header=%s\n' "$HTTP_X_LATCHKEY_UIN"
CGI
chmod 755 "$TMP/cgi/echo.cgi"
echo ok >"$TMP/htdocs/index.html"
[ -n "$USER_LINES" ] && chown -R "$WUSER:" "$TMP/httpd"

# doc/apache.md's Apache block, run as written there: only the module's and the
# configuration file's paths are this build's.
README_CONF=$(awk '/^```apache$/ { on = 1; next } on && /^```$/ { exit } on' "$LK_SRCDIR/doc/apache.md" |
    sed -e "s|/usr/lib/apache2/modules/mod_authn_latchkey.so|$MOD|" -e "s|/etc/latchkey/latchkey.yaml|$CONF|")
[ -n "$README_CONF" ] || die "no \`\`\`apache block in doc/apache.md"
check_match "doc/apache.md's block loads this module" "LoadModule authn_latchkey_module $MOD" "$README_CONF"
httpd_conf() { # PORT
    cat <<CONF
ServerRoot $TMP/httpd
ServerName 127.0.0.1
Listen 127.0.0.1:$1
PidFile $TMP/httpd/httpd.pid
ErrorLog $TMP/httpd/error.log
LogLevel notice authn_latchkey:info
$USER_LINES
StartServers 2
ThreadsPerChild 8
MinSpareThreads 8
MaxSpareThreads 32
MaxRequestWorkers 64
DocumentRoot $TMP/htdocs
LoadModule mpm_event_module $APMODS/mod_mpm_event.so
LoadModule authn_core_module $APMODS/mod_authn_core.so
LoadModule authz_core_module $APMODS/mod_authz_core.so
LoadModule authz_user_module $APMODS/mod_authz_user.so
LoadModule auth_basic_module $APMODS/mod_auth_basic.so
LoadModule alias_module $APMODS/mod_alias.so
LoadModule cgi_module $APMODS/mod_cgi.so
LoadModule headers_module $APMODS/mod_headers.so
ScriptAlias /basic $TMP/cgi/echo.cgi
ScriptAlias /anyuser $TMP/cgi/echo.cgi
ScriptAlias /api $TMP/cgi/echo.cgi
ScriptAlias /xapi $TMP/cgi/echo.cgi
ScriptAlias /proxied $TMP/cgi/echo.cgi
ScriptAlias /untrusted $TMP/cgi/echo.cgi
ScriptAlias /broken-api $TMP/cgi/echo.cgi
ScriptAlias /broken-basic $TMP/cgi/echo.cgi
$README_CONF
<Location /untrusted>
    AuthType latchkey
    AuthName "api"
    LatchkeyService api
    LatchkeyClientIP header X-Forwarded-For
    LatchkeyTrustedProxy 192.0.2.0/24
    Require valid-user
</Location>
<Location /broken-api>
    AuthType latchkey
    LatchkeyConfig $TMP/broken.yaml
    Require valid-user
</Location>
<Location /broken-basic>
    AuthType Basic
    AuthName "latchkey"
    AuthBasicProvider latchkey
    LatchkeyConfig $TMP/broken.yaml
    Require valid-user
</Location>
<Location /anyuser>
    AuthType Basic
    AuthName "latchkey"
    AuthBasicProvider latchkey
    LatchkeyService web
    LatchkeyAnyUser On
    Require valid-user
</Location>
CONF
}

# A module built with the shared ASan runtime (tests/ci/sanitize.sh) cannot
# be loaded late into an uninstrumented httpd: preload the runtime, as
# sshd.sh does. httpd's own allocations are not ours to leak-check.
ASAN_RT=$(ldd "$MOD" 2>/dev/null | awk '/libclang_rt\.asan/ {print $3}')
HTTPD_PID=
stop_httpd() { stop_pidfile "$TMP/httpd/httpd.pid" TERM; }
CLEANUP_HOOKS+=(stop_httpd)

start_httpd() {
    local port=$((24000 + $$ % 20000)) i
    for _ in $(seq 10); do
        httpd_conf "$port" >"$TMP/httpd.conf"
        : >"$TMP/httpd/error.log"
        env -i PATH="$PATH" LD_LIBRARY_PATH="$LD_LIBRARY_PATH" \
            ${ASAN_RT:+LD_PRELOAD="$ASAN_RT" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0:log_path=$TMP/asan"} \
            "$HTTPD" -d "$TMP/httpd" -f "$TMP/httpd.conf" -k start >"$TMP/httpd.out" 2>&1 ||
            grep -q "Address already in use" "$TMP/httpd.out" ||
            { cat "$TMP/httpd.out" "$TMP/httpd/error.log" >&2; die "apache2 did not start"; }
        for i in $(seq 50); do
            if [ -s "$TMP/httpd/httpd.pid" ] && curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
                PORT=$port
                return 0
            fi
            grep -q "Address already in use" "$TMP/httpd/error.log" "$TMP/httpd.out" 2>/dev/null && break
            sleep 0.1
        done
        stop_httpd
        port=$((port + 1))
    done
    cat "$TMP/httpd.out" "$TMP/httpd/error.log" >&2
    die "apache2 did not start"
}
start_httpd
URL=http://127.0.0.1:$PORT

# req PATH [curl config lines...]: prints "STATUS BODY" (common.sh's http_req)
req() { http_req "$URL$1" "${@:2}"; }
basic() { req "$1" "user = \"$2:$3\""; }
bearer() { req "$1" "header = \"Authorization: Bearer $2\""; }
# headers PATH [curl config lines...]: the response headers
headers() { http_headers "$URL$1" "${@:2}"; }

# --- Basic: AuthBasicProvider latchkey
check "basic: login + API key" "200 user=alice uin=100 key=$AK_ID" "$(basic /basic alice "$AK")"
check "basic: key id + API key" "200 user=alice uin=100 key=$AK_ID" "$(basic /basic "$AK_ID" "$AK")"
check "basic: SecretId + SecretKey" "200 user=alice uin=100 key=$A_ID" "$(basic /basic "$A_ID" "$A_SECRET")"
check "basic: login + SecretId:SecretKey" "200 user=alice uin=100 key=$A_ID" \
    "$(basic /basic alice "$A_ID:$A_SECRET")"
check_match "basic: another account's login refused" "^401 " "$(basic /basic bob "$AK")"
check_match "basic: root refused with a valid key" "^401 " "$(basic /basic root "$AK")"
check_match "basic: another account's login refused (pair)" "^401 " "$(basic /basic bob "$A_ID:$A_SECRET")"
check "basic: LatchkeyAnyUser On waives it" "200 user=alice uin=100 key=$AK_ID" "$(basic /anyuser whoever "$AK")"
check_match "basic: wrong SecretKey" "^401 " "$(basic /basic "$A_ID" "$(wrong_last "$A_SECRET")")"
check_match "basic: wrong API key" "^401 " "$(basic /basic alice "$(wrong_last "$AK")")"
check_match "basic: out of scope" "^401 " "$(basic /basic alice "$CK")"
check_match "basic: no credentials asks for Basic" "^HTTP/1.1 401.*WWW-Authenticate: Basic realm=\"latchkey\"" \
    "$(headers /basic)"
check "basic: bob with his own key" "200 user=bob uin=200 key=${BK:0:15}" "$(basic /basic bob "$BK")"

# --- AuthType latchkey: Bearer and X-Api-Key
check "bearer: valid key" "200 user=alice uin=100 key=$AK_ID" "$(bearer /api "$AK")"
check "bearer: an owner with no login is its UIN" "200 user=300 uin=300 key=${CK:0:15}" "$(bearer /api "$CK")"
check_match "bearer: no key: 401 + WWW-Authenticate: Bearer" \
    "^HTTP/1.1 401.*WWW-Authenticate: Bearer realm=\"api\"" "$(headers /api)"
check_match "bearer: no key: the code says why" "^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.MissingCredential" \
    "$(headers /api)"
check_match "bearer: Basic on a Bearer location: the code says why" \
    "^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.InvalidSecretId" "$(headers /api "user = \"alice:$AK\"")"
check_match "bearer: wrong key: 401 invalid_token" \
    "^HTTP/1.1 401.*WWW-Authenticate: Bearer realm=\"api\", error=\"invalid_token\"" \
    "$(headers /api "header = \"Authorization: Bearer $(wrong_last "$AK")\"")"
check_match "bearer: garbage: 401" "^HTTP/1.1 401.*WWW-Authenticate: Bearer" \
    "$(headers /api "header = \"Authorization: Bearer not-a-key\"")"
check_match "bearer: Basic credentials on a Bearer location: 401" "^HTTP/1.1 401.*WWW-Authenticate: Bearer" \
    "$(headers /api "user = \"alice:$AK\"")"
# refused before the secret is checked: a wrong secret's answer (issue 19)
check_match "bearer: out of scope: 401" "^401 " "$(bearer /api "$AK_WEB")"
check_match "bearer: outside the allowlist: 401" "^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.SignatureFailure" \
    "$(headers /api "header = \"Authorization: Bearer $AK_FAR\"")"
check "x-api-key: valid key" "200 user=alice uin=100 key=$AK_ID" "$(req /xapi "header = \"X-Api-Key: $AK\"")"
check_match "x-api-key: not read where it is not configured" "^401 " "$(req /api "header = \"X-Api-Key: $AK\"")"

# --- client address: a trusted proxy's header only
check "proxy: trusted peer's X-Forwarded-For is the client; uin header for a backend" \
    "200 user=alice uin=100 key=${AK_FAR:0:15} header=100" \
    "$(req /proxied "header = \"Authorization: Bearer $AK_FAR\"" "header = \"X-Forwarded-For: 203.0.113.9, 10.1.2.3\"" \
        "header = \"X-Latchkey-Uin: 999\"")"
check_match "proxy: an untrusted peer's header is ignored" "^401 " \
    "$(req /untrusted "header = \"Authorization: Bearer $AK_FAR\"" "header = \"X-Forwarded-For: 10.1.2.3\"")"
check_match "proxy: a forged client outside the allowlist" "^401 " \
    "$(req /proxied "header = \"Authorization: Bearer $AK\"" "header = \"X-Forwarded-For: 10.1.2.3\"")"

# --- a store that cannot be opened fails closed
check_match "store unreachable: bearer 500" "^500 " "$(bearer /broken-api "$AK")"
check_match "store unreachable: basic 500" "^500 " "$(basic /broken-basic alice "$AK")"

# --- disabled with the admin tool: refused on the very next request
check "disable: works before" "200 user=alice uin=100 key=$AK_DIS_ID" "$(bearer /api "$AK_DIS")"
lk apikey disable "$AK_DIS_ID" >/dev/null || die "apikey disable"
check_match "disable: bearer 401 on the next request" "^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.SignatureFailure" \
    "$(headers /api "header = \"Authorization: Bearer $AK_DIS\"")"
# Basic has no "forbidden" answer from a provider: AUTH_DENIED is a 401.
check_match "disable: basic 401 on the next request" "^401 " "$(basic /anyuser alice "$AK_DIS")"
lk key disable "$A_ID" >/dev/null || die "key disable"
check_match "disable: a SecretId pair too" "^401 " "$(basic /basic "$A_ID" "$A_SECRET")"

# --- parallel clients across children and threads
# (one printf per answer: a single write, so lines do not interleave)
par=$(for _ in $(seq 40); do { r=$(bearer /api "$AK"); printf '%s\n' "$r"; } & done; wait)
check "parallel: 40 concurrent requests all granted" "40" "$(printf '%s\n' "$par" | grep -c '^200 user=alice')"
printf '%s\n' "$par" | grep -v '^200 user=alice' | sort | uniq -c | head -5

# --- graceful stop writes the children's queued access records
stop_httpd
# (records are queued per child and written at its exit)
check_match "basic: the refusals were the identity check" "AuthFailure\.LoginNotMatch" "$(lk records "$A_ID")"
check_match "the grants are recorded too" "Success" "$(lk records "$AK_ID")"

leaked=
for secret in "$A_SECRET" "$AK" "$AK_WEB" "$AK_FAR" "$AK_DIS" "$BK" "$CK"; do
    grep -qaF -- "${secret:15}" "$TMP/httpd/error.log" "$TMP/httpd.out" && leaked="$leaked ${secret:0:4}..."
done
check "no secret in Apache's log" "" "$leaked"
check_match "refusals logged with the CAM code" "AuthFailure\.LoginNotMatch" "$(cat "$TMP/httpd/error.log")"
check_match "store errors logged with the CAM code" "cannot open latchkey store of .*broken.yaml: FailedOperation\.Storage" \
    "$(cat "$TMP/httpd/error.log")"
check "no sanitizer report from the module in apache2" "" "$(cat "$TMP"/asan.* 2>/dev/null | head -5)"
finish
