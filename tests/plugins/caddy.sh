#!/bin/bash
# caddy.sh — latchkeyd's HTTP verify endpoint behind the real Caddy v2
# (Debian's /usr/bin/caddy, forward_auth) on 127.0.0.1 and free ports: a
# private configuration with the admin endpoint off, automatic HTTPS off and
# HOME/XDG dirs in the scratch directory, so nothing of the system's Caddy
# service (its config, its storage, ports 80/443/2019) is read or touched.
# The site is etc/caddy/Caddyfile as shipped (doc/proxies.md's block), with only
# its addresses changed; the "API" is a second site that echoes the identity
# headers it got. Driven by curl: Bearer, X-Api-Key and Basic credentials;
# 401 with WWW-Authenticate for none, wrong and expired, and (a wrong
# secret's answer: refused before the secret is checked) for scope,
# allowlist and a key disabled with the admin tool (on the very next
# request); a client's X-Latchkey-Service / X-Original-URI /
# X-Forwarded-Uri / X-Forwarded-For / X-Real-IP / X-Latchkey-Uin change
# nothing; a web key sent to /api through dot-segments is refused; latchkeyd gone: Caddy refuses (502); no secret in Caddy's access
# log (the shipped filter deletes X-Api-Key) or runtime log, or latchkeyd's.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"

CADDY=$(command -v caddy 2>/dev/null || ls /usr/bin/caddy 2>/dev/null)
[ -n "$CADDY" ] && [ -x "$CADDY" ] || skip "caddy not installed (apt-get install caddy)"
"$CADDY" list-modules 2>/dev/null | grep -qx 'http.handlers.reverse_proxy' || skip "this caddy has no reverse_proxy (forward_auth) module"
command -v curl >/dev/null || skip "curl not installed (apt-get install curl)"
[ "${LK_HAVE_HTTP:-yes}" = yes ] || skip "latchkeyd was built without HTTP support (apt-get install libmicrohttpd-dev, then configure)"
need_cli

http_keys
start_latchkeyd_http

# --- Caddy: the shipped site (doc/proxies.md's block), addresses changed
SHIPPED=$LK_SRCDIR/etc/caddy/Caddyfile
[ -f "$SHIPPED" ] || die "$SHIPPED missing"
SITE=$(sed -n '/^http:\/\/127\.0\.0\.1:8080 {$/,$p' "$SHIPPED")
[ -n "$SITE" ] || die "no 'http://127.0.0.1:8080 {' site in $SHIPPED"
README_CONF=$(awk '/^```caddyfile$/ { on = 1; next } on && /^```$/ { exit } on' "$LK_SRCDIR/doc/proxies.md")
[ -n "$README_CONF" ] || die "no \`\`\`caddyfile block in doc/proxies.md"
check "doc/proxies.md's caddyfile block is etc/caddy/Caddyfile (after its comments)" "" \
    "$(diff <(printf '%s\n' "$README_CONF") <(printf '%s\n' "$SITE"))"
mkdir -p "$TMP/caddy/home" "$TMP/caddy/data" "$TMP/caddy/config"
caddy_conf() { # PORT API_PORT
    cat <<CONF
{
	admin off
	auto_https off
	storage file_system $TMP/caddy/data
	log {
		output file $TMP/caddy/caddy.log
		level INFO
	}
}

http://127.0.0.1:$2 {
	respond "uin={header.X-Latchkey-Uin} key={header.X-Latchkey-Key-Id}"
}

$(sed -e "s|127.0.0.1:8087|127.0.0.1:$LKD_PORT|" -e "s|^http://127.0.0.1:8080 {|http://127.0.0.1:$1 {|" \
      -e "s|127.0.0.1:9000|127.0.0.1:$2|" <<<"$SITE")
CONF
}
stop_caddy() { stop_pidfile "$TMP/caddy/caddy.pid" TERM; }
CLEANUP_HOOKS+=(stop_caddy)
start_caddy() {
    local port api pid i
    for _ in $(seq 10); do
        free_port port
        free_port api
        caddy_conf "$port" "$api" >"$TMP/caddy/Caddyfile"
        HOME=$TMP/caddy/home XDG_DATA_HOME=$TMP/caddy/data XDG_CONFIG_HOME=$TMP/caddy/config \
            "$CADDY" validate --config "$TMP/caddy/Caddyfile" --adapter caddyfile >"$TMP/caddy.validate" 2>&1 ||
            { cat "$TMP/caddy.validate" >&2; die "caddy validate refused the configuration"; }
        HOME=$TMP/caddy/home XDG_DATA_HOME=$TMP/caddy/data XDG_CONFIG_HOME=$TMP/caddy/config \
            "$CADDY" run --config "$TMP/caddy/Caddyfile" --adapter caddyfile \
            --pidfile "$TMP/caddy/caddy.pid" >"$TMP/caddy.out" 2>&1 &
        pid=$!
        for i in $(seq 200); do
            if curl -s -o /dev/null "http://127.0.0.1:$api/" && curl -s -o /dev/null "http://127.0.0.1:$port/"; then
                PORT=$port
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        grep -q "address already in use" "$TMP/caddy.out" || break
        stop_caddy
        wait "$pid" 2>/dev/null
    done
    cat "$TMP/caddy.out" "$TMP/caddy/caddy.log" >&2
    die "caddy did not start"
}
start_caddy
URL=http://127.0.0.1:$PORT

req() { http_req "$@"; }
headers() { http_headers "$@"; }
bearer() { req "$URL$1" "header = \"Authorization: Bearer $2\""; }
basic() { req "$URL$1" "user = \"$2:$3\""; }

# --- granted: the API sees the identity headers forward_auth copied
check "bearer: valid key reaches the API with the uin" "200 uin=100 key=$AK_ID" "$(bearer /api/x "$AK")"
check "x-api-key: valid key" "200 uin=100 key=$AK_ID" "$(req "$URL/api/x" "header = \"X-Api-Key: $AK\"")"
check "basic: SecretId:SecretKey" "200 uin=100 key=$A_ID" "$(basic /api/x "$A_ID" "$A_SECRET")"
check "basic: login + API key" "200 uin=100 key=$AK_ID" "$(basic /api/x alice "$AK")"
check "a client's own X-Latchkey-Uin/Key-Id are replaced" "200 uin=100 key=$AK_ID" \
    "$(req "$URL/api/x" "header = \"Authorization: Bearer $AK\"" "header = \"X-Latchkey-Uin: 999\"" \
        "header = \"X-Latchkey-Key-Id: lk-forged\"")"

# --- 401: none, wrong, garbage (Caddy passes latchkeyd's answer through)
check_match "no key: 401 + WWW-Authenticate: Bearer and Basic" \
    '^HTTP/1.1 401.*(WWW|Www)-Authenticate: Bearer realm="latchkey".*(WWW|Www)-Authenticate: Basic realm="latchkey"' \
    "$(headers "$URL/api/x")"
check_match "no key: the code reaches the client" '^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure' "$(headers "$URL/api/x")"
check_match "wrong key: 401" '^HTTP/1.1 401.*(WWW|Www)-Authenticate: Bearer' \
    "$(headers "$URL/api/x" "header = \"Authorization: Bearer $(wrong_last "$AK")\"")"
check_match "wrong X-Api-Key: 401" "^401 " "$(req "$URL/api/x" "header = \"X-Api-Key: $(wrong_last "$AK")\"")"
check_match "wrong SecretKey: 401" "^401 " "$(basic /api/x "$A_ID" "$(wrong_last "$A_SECRET")")"
check_match "garbage bearer: 401" "^401 " "$(bearer /api/x 'not-a-key')"
check_match "a refusal never reaches the API" "^401 $" "$(bearer /api/x 'not-a-key')"

# --- scope, allowlist; the client cannot pick the service or address.
# Refused before the secret is checked: a wrong secret's answer, 401 (a
# caller that has not proven the key learns nothing of its rules, issue 19)
check_match "out of scope: 401" "^401 " "$(bearer /api/x "$AK_WEB")"
check_match "out of scope: the code tells nothing" "^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.SignatureFailure" \
    "$(headers "$URL/api/x" "header = \"Authorization: Bearer $AK_WEB\"")"
# --- the service is decided on the path Caddy routes (issue 19, finding 1)
check_dot_segments "$URL"
check_match "a client's X-Latchkey-Service cannot pick the service" "^401 " \
    "$(req "$URL/api/x" "header = \"Authorization: Bearer $AK_WEB\"" "header = \"X-Latchkey-Service: web\"")"
check_match "a client's X-Original-URI cannot pick the service" "^401 " \
    "$(req "$URL/api/x" "header = \"Authorization: Bearer $AK_WEB\"" "header = \"X-Original-URI: /web/x\"")"
# (401: outside the key's scope; 403: a path latchkeyd refuses whatever the key)
check_match "a client's X-Forwarded-Uri cannot pick the service" "^40[13] " \
    "$(req "$URL/api/x" "header = \"Authorization: Bearer $AK_WEB\"" "header = \"X-Forwarded-Uri: /web/x\"")"
check_match "outside the allowlist: 401" "^401 " "$(bearer /api/x "$AK_FAR")"
check_match "a client's X-Forwarded-For cannot name its address" "^401 " \
    "$(req "$URL/api/x" "header = \"Authorization: Bearer $AK_FAR\"" "header = \"X-Forwarded-For: 10.1.2.3\"")"
check_match "a client's X-Real-IP cannot name its address" "^401 " \
    "$(req "$URL/api/x" "header = \"Authorization: Bearer $AK_FAR\"" "header = \"X-Real-IP: 10.1.2.3\"")"

# --- disabled with the admin tool: refused on the very next request
check "disable: works before" "200 uin=100 key=$AK_DIS_ID" "$(bearer /api/x "$AK_DIS")"
lk apikey disable "$AK_DIS_ID" >/dev/null || die "apikey disable"
check_match "disable: 401 on the very next request" "^401 " "$(bearer /api/x "$AK_DIS")"
check_match "disable: the code tells nothing" "^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.SignatureFailure" \
    "$(headers "$URL/api/x" "header = \"Authorization: Bearer $AK_DIS\"")"
lk apikey enable "$AK_DIS_ID" >/dev/null || die "apikey enable"
check "enable: granted again at once" "200 uin=100 key=$AK_DIS_ID" "$(bearer /api/x "$AK_DIS")"

# --- an API key that expires while Caddy runs: 401 (invalid_token)
new_apikey 100 short-lived --scope api --expires 3s
AK_EXP=$APIKEY
AK_EXP_ID=$APIKEY_ID
exp_t0=$(date +%s)
r=$(bearer /api/x "$AK_EXP")
# Only meaningful when the request ran before the expiry (a loaded machine
# may take longer); the refusal afterwards is checked either way.
[ $(($(date +%s) - exp_t0)) -lt 2 ] && check "expiring key: granted before" "200 uin=100 key=$AK_EXP_ID" "$r"
wait_s=$((exp_t0 + 4 - $(date +%s)))
[ "$wait_s" -gt 0 ] && sleep "$wait_s"
check_match "expired key: 401 + WWW-Authenticate" \
    '^HTTP/1.1 401.*(WWW|Www)-Authenticate: Bearer.*X-Latchkey-Code: AuthFailure.SecretIdExpired' \
    "$(headers "$URL/api/x" "header = \"Authorization: Bearer $AK_EXP\"")"

# --- latchkeyd gone: Caddy fails closed, never lets the request through
kill "$LKD_PID"
wait "$LKD_PID" 2>/dev/null
check "latchkeyd stopped cleanly" "0" "$?"
check_match "latchkeyd down: 502, the API not reached" "^502 $" "$(bearer /api/x "$AK")"
stop_caddy

leaked=
for secret in "$A_SECRET" "$AK" "$AK_WEB" "$AK_FAR" "$AK_DIS" "$AK_EXP"; do
    grep -qaF -- "${secret:15}" "$TMP/caddy/caddy.log" "$TMP/caddy.out" "$TMP/latchkeyd.log" &&
        leaked="$leaked ${secret:0:4}..."
done
check "no secret in Caddy's (access and runtime) or latchkeyd's logs" "" "$leaked"
check_match "Caddy's access log has the requests (the check above read them)" \
    '"logger":"http.log.access[^|]*"uri":"/api/x"' "$(grep -F '"User-Agent"' "$TMP/caddy.out")"
finish
