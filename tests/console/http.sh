#!/bin/bash
# http.sh — the key console's server side (issue 21) with curl, against a
# real latchkeyd on 127.0.0.1: its files at /console/ with their types and
# the security headers, hostile paths refused, sign-in with a pair (a
# cookie HttpOnly SameSite=Strict, a CSRF token), a change without or with
# a wrong CSRF token refused, the idle timeout on the sessions' test clock,
# sign-out, a disabled sign-in key ending its sessions at the next request,
# a trusted proxy's user header signing in, and the new ListUsers and
# DescribeAuditEvents actions with their refusals. Credentials reach curl
# on stdin, never argv.
. "$(dirname "$0")/../e2e/lib.sh"
TESTNAME=console-http
. "$(dirname "$0")/lib.sh"

console_accounts
start_daemon
BASE=http://127.0.0.1:$PORT
note "serving on $PORT"

# get PATH [CURL ARGS...]: headers in $WORK/h, body in OUT, status in HS.
get() {
    _p=$1
    shift
    HS=$(curl -s --path-as-is -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' "$@" "$BASE$_p") || HS=000
    OUT=$(cat "$WORK/b")
}
hdr() { grep -i "^$1:" "$WORK/h" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
secure_headers() {
    [ "$(hdr Content-Security-Policy)" = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'" ] ||
        fail "$1: Content-Security-Policy: '$(hdr Content-Security-Policy)'"
    [ "$(hdr Referrer-Policy)" = no-referrer ] || fail "$1: no Referrer-Policy"
    [ "$(hdr X-Content-Type-Options)" = nosniff ] || fail "$1: no nosniff"
    [ "$(hdr Cache-Control)" = no-store ] || fail "$1: no Cache-Control: no-store"
}

note "files, types and headers"
get /console/
[ "$HS" = 200 ] || fail "/console/: HTTP $HS"
[ "$(hdr Content-Type)" = "text/html; charset=utf-8" ] || fail "index type: $(hdr Content-Type)"
cmp -s "$WORK/b" "$LK_SRCDIR/console/index.html" || fail "/console/ is not index.html"
secure_headers /console/
case $OUT in *"<script>"* | *" style="* | *"<style"*) fail "index.html has inline script or style" ;; esac
get /console/js/app.js
[ "$HS" = 200 ] && [ "$(hdr Content-Type)" = "text/javascript; charset=utf-8" ] || fail "app.js: $HS $(hdr Content-Type)"
secure_headers app.js
get /console/css/console.css
[ "$HS" = 200 ] && [ "$(hdr Content-Type)" = "text/css; charset=utf-8" ] || fail "console.css: $HS $(hdr Content-Type)"
get /console
[ "$HS" = 301 ] && [ "$(hdr Location)" = /console/ ] || fail "/console: $HS $(hdr Location)"

note "hostile paths"
ln -s /etc/passwd "$LK_SRCDIR/console/js/.lk-test-link.js" 2>/dev/null || :
trap 'rm -f "$LK_SRCDIR/console/js/.lk-test-link.js" "$LK_SRCDIR/console/js/lk-test-link.js"; stop_daemon_on_exit' EXIT
ln -sf /etc/passwd "$LK_SRCDIR/console/js/lk-test-link.js"
for p in /console/../etc/passwd /console/..%2f..%2fetc%2fpasswd /console/%2e%2e/%2e%2e/etc/passwd \
    /console/js/..%2F..%2F..%2Fetc%2Fpasswd /console/js//app.js /console/.hidden.html /console/js/.lk-test-link.js \
    /console/js/lk-test-link.js '/console/js%5Capp.js' /console/local.mk /console/%00.html /console/js/ \
    '/console/index.html%00.js' /console/nonexistent.html /console/api/nothing; do
    get "$p"
    case $HS in 2*) fail "$p: HTTP $HS (served)" ;; esac
    case $OUT in *root:*) fail "$p: served /etc/passwd" ;; esac
    secure_headers "$p"
done
rm -f "$LK_SRCDIR/console/js/.lk-test-link.js" "$LK_SRCDIR/console/js/lk-test-link.js"
# an encoded NUL in the API's query is refused, not cut (it read TargetUin=101%00x as 101)
HS=$(printf 'user = "%s:%s"\n' "$S100" "$K100" | curl -s -K - -o "$WORK/b" -w '%{http_code}' \
    "$BASE/?Action=ListAccessKeys&Version=2019-01-16&TargetUin=101%00x") || HS=000
case $(cat "$WORK/b") in *'"Code":"InvalidParameter.ParamError"'*) ;; *) fail "TargetUin=101%00x: $(cat "$WORK/b")" ;; esac
get /console/index.html -X POST
[ "$HS" = 405 ] || fail "POST to a file: HTTP $HS"

note "sign-in"
signin() { # SID SK: sets COOKIE (the cookie line) and CSRF
    HS=$(printf 'user = "%s:%s"\n' "$1" "$2" | curl -s -K - -X POST -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' "$BASE/console/api/login") || HS=000
    OUT=$(cat "$WORK/b")
    COOKIE=$(hdr Set-Cookie)
    CSRF=$(printf '%s\n' "$OUT" | sed -n 's/.*"CsrfToken":"\([0-9a-f]*\)".*/\1/p')
}
signin "$S100" wrong-secret-key
case $OUT in *'"Code":"AuthFailure.SignatureFailure"'*) ;; *) fail "a wrong SecretKey signed in: $OUT" ;; esac
[ -z "$COOKIE" ] || fail "a refused sign-in set a cookie: $COOKIE"
signin "$S100" "$K100"
[ "$HS" = 200 ] || fail "sign-in: HTTP $HS $OUT"
secure_headers login
case $COOKIE in "lk_session="[0-9a-f]*"; Path=/; HttpOnly; SameSite=Strict") ;; *) fail "cookie: $COOKIE" ;; esac
SESSION=${COOKIE%%;*} RCSRF=$CSRF
[ ${#SESSION} = $((11 + 64)) ] || fail "session id is not 256 bits: $SESSION"
[ ${#CSRF} = 64 ] || fail "no CSRF token: $OUT"
case $OUT in *"$K100"*) fail "the sign-in answer shows the SecretKey" ;; esac
case $OUT in *'"Kind":"root"'*) ;; *) fail "session lacks the kind: $OUT" ;; esac

# api COOKIE CSRF ACTION BODY [VERSION]
api() {
    HS=$(curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -H "Cookie: $1" ${2:+-H "X-CSRF-Token: $2"} \
        -H "X-TC-Action: $3" -H "X-TC-Version: ${5:-2019-01-16}" -H 'Content-Type: application/json' \
        --data-binary "$4" "$BASE/") || HS=000
    OUT=$(cat "$WORK/b")
}
errcode() { printf '%s\n' "$OUT" | sed -n 's/^{"Response":{"Error":{"Code":"\([^"]*\)".*/\1/p'; }

api "$SESSION" "$CSRF" ListAccessKeys '{}'
[ "$HS" = 200 ] && [ -z "$(errcode)" ] || fail "ListAccessKeys with the session: $HS $OUT"
case $OUT in *"$S100"*) ;; *) fail "the session lists another's keys: $OUT" ;; esac
secure_headers "API answer"

# a GET never signs in with a pair (a browser may resend cached Basic credentials by itself)
HS=$(printf 'user = "%s:%s"\n' "$S100" "$K100" | curl -s -K - -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' "$BASE/console/api/session") || HS=000
[ "$HS" = 405 ] && [ -z "$(hdr Set-Cookie)" ] || fail "GET /console/api/session with a pair: $HS $(cat "$WORK/b")"

note "CSRF"
N_BEFORE=$(lk --json key list 100 | grep -o AccessKeyId | wc -l)
api "$SESSION" "" CreateAccessKey '{}'
[ "$(errcode)" = AuthFailure.CsrfTokenMissing ] || fail "a change without the CSRF token: $HS $OUT"
api "$SESSION" "$(printf '%064d' 0)" CreateAccessKey '{}'
[ "$(errcode)" = AuthFailure.CsrfTokenInvalid ] || fail "a change with a wrong CSRF token: $HS $OUT"
[ "$(lk --json key list 100 | grep -o AccessKeyId | wc -l)" = "$N_BEFORE" ] || fail "a refused change created a key"
api "lk_session=$(printf '%064d' 0)" "$CSRF" ListAccessKeys '{}'
[ "$(errcode)" = AuthFailure.SessionInvalid ] || fail "an unknown session: $OUT"

note "ListUsers and DescribeAuditEvents"
api "$SESSION" "$CSRF" ListUsers '{}'
[ -z "$(errcode)" ] || fail "ListUsers: $OUT"
case $OUT in *'"Uin":101,"Kind":"sub-user","Login":"bob","SelfService":"manage"'*'"KeyCount":1'*) ;; *) fail "ListUsers: $OUT" ;; esac
case $OUT in *'"Uin":200'*) fail "ListUsers shows another account" ;; esac
api "$SESSION" "$CSRF" UpdateAccessKey "{\"TargetUin\":101,\"AccessKeyId\":\"$S101\",\"Status\":\"Inactive\"}"
[ -z "$(errcode)" ] || fail "UpdateAccessKey: $OUT"
api "$SESSION" "$CSRF" UpdateAccessKey "{\"TargetUin\":101,\"AccessKeyId\":\"$S101\",\"Status\":\"Active\"}"
api "$SESSION" "$CSRF" DescribeAuditEvents "{\"AccessKeyId\":\"$S101\"}" 2026-12-07
[ -z "$(errcode)" ] || fail "DescribeAuditEvents: $OUT"
case $OUT in *'"Action":"key.disable"'*"\"CallerSecretId\":\"$S100\""*) ;; *) fail "audit lacks the console's change: $OUT" ;; esac
api "$SESSION" "$CSRF" DescribeAuditEvents '{"TargetUin":200}' 2026-12-07
[ "$(errcode)" = OperationDenied.UinNotMatch ] || fail "audit of another account: $OUT"
signin "$S101" "$K101"
BOB=${COOKIE%%;*} BOBCSRF=$CSRF
api "$BOB" "$BOBCSRF" ListUsers '{}'
[ "$(errcode)" = AuthFailure.UnauthorizedOperation ] || fail "a sub-user lists users: $OUT"
api "$BOB" "$BOBCSRF" DescribeAuditEvents '{}' 2026-12-07
[ "$(errcode)" = AuthFailure.UnauthorizedOperation ] || fail "a sub-user reads the audit: $OUT"
api "$BOB" "$BOBCSRF" ListAccessKeys '{"TargetUin":100}'
[ "$(errcode)" = OperationDenied.SubUin ] || fail "a sub-user lists its root's keys: $OUT"

note "a disabled sign-in key ends its sessions"
expect_exit 0 lk key disable "$S101"
api "$BOB" "$BOBCSRF" ListAccessKeys '{}'
[ "$(errcode)" = AuthFailure.SessionEnded ] || fail "a disabled key's session lives: $OUT"
expect_exit 0 lk key enable "$S101"
api "$BOB" "$BOBCSRF" ListAccessKeys '{}'
[ "$(errcode)" = AuthFailure.SessionInvalid ] || fail "an ended session came back: $OUT"

note "idle timeout and sign-out"
advance_clock 599
api "$SESSION" "$RCSRF" ListAccessKeys '{}'
[ -z "$(errcode)" ] || fail "session ended before its idle timeout: $OUT"
advance_clock 600
api "$SESSION" "$RCSRF" ListAccessKeys '{}'
[ "$(errcode)" = AuthFailure.SessionExpired ] || fail "idle session lives: $OUT"
signin "$S100" "$K100"
SESSION=${COOKIE%%;*}
HS=$(curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -X POST -H "Cookie: $SESSION" "$BASE/console/api/logout")
OUT=$(cat "$WORK/b")
[ "$(errcode)" = AuthFailure.CsrfTokenMissing ] || fail "sign-out without the CSRF token: $OUT"
HS=$(curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -X POST -H "Cookie: $SESSION" -H "X-CSRF-Token: $CSRF" "$BASE/console/api/logout")
OUT=$(cat "$WORK/b")
[ "$HS" = 200 ] || fail "sign-out: $HS $OUT"
case $(hdr Set-Cookie) in "lk_session=; Path=/; Max-Age=0"*) ;; *) fail "sign-out does not clear the cookie: $(hdr Set-Cookie)" ;; esac
api "$SESSION" "$CSRF" ListAccessKeys '{}'
[ "$(errcode)" = AuthFailure.SessionInvalid ] || fail "signed-out session lives: $OUT"

note "a trusted proxy's user header signs in"
HS=$(curl -s --interface 127.0.0.2 -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -H 'X-Webauth-User: bob' "$BASE/console/api/session") || HS=000
OUT=$(cat "$WORK/b")
[ "$HS" = 200 ] || fail "proxy sign-in: $HS $OUT"
case $OUT in *'"Uin":101'*'"Login":"bob"'*) ;; *) fail "proxy sign-in: $OUT" ;; esac
[ -n "$(hdr Set-Cookie)" ] || fail "proxy sign-in set no cookie"
PROXY=$(hdr Set-Cookie)
PROXY=${PROXY%%;*}
# the same session at the next page load; a stale cookie behind the proxy signs in afresh
HS=$(curl -s --interface 127.0.0.2 -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -H "Cookie: $PROXY" -H 'X-Webauth-User: bob' "$BASE/console/api/session") || HS=000
[ "$HS" = 200 ] && [ -z "$(hdr Set-Cookie)" ] || fail "proxy session not reused: $HS $(cat "$WORK/b")"
HS=$(curl -s --interface 127.0.0.2 -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -H "Cookie: lk_session=$(printf '%064d' 0)" -H 'X-Webauth-User: bob' "$BASE/console/api/session") || HS=000
[ "$HS" = 200 ] && [ -n "$(hdr Set-Cookie)" ] || fail "a stale cookie behind the proxy: $HS $(cat "$WORK/b")"
HS=$(curl -s -o "$WORK/b" -w '%{http_code}' -H 'X-Webauth-User: bob' "$BASE/console/api/session")
case $(cat "$WORK/b") in *AuthFailure.SessionInvalid*) ;; *) fail "the user header from an untrusted peer signed in: $(cat "$WORK/b")" ;; esac

note "no secret in the log"
for k in "$K100" "$K101" "$CSRF"; do
    ! grep -qF -e "$k" "$LOG" "$LOG.cur" || fail "the log shows a secret"
done
grep -q 'console sign-in of user 100' "$LOG.cur" || fail "sign-in not logged"
stop_daemon
note ok
