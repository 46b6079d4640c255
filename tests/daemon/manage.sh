#!/bin/bash
# manage.sh — latchkeyd's management API (daemon.manage, issue 20) end to
# end: a real latchkeyd on a free port of 127.0.0.1, driven with curl.
# Credentials reach curl through a config on stdin, never argv.
#
#   the rules matrix, action by action, for a root account, a sub-user
#   granted manage, one granted read, an ungranted one, a collaborator and
#   another account's root: exact codes, and the store (keys, API keys,
#   audit) unchanged after every refusal; the audited caller of a change;
#   API keys; callers refused at their next request; a trusted proxy's
#   user header (and the same header from anyone else, ignored and logged);
#   garbage, oversized and chunked bodies, a wrong Content-Type, unknown
#   actions, methods and paths; a slow client; the request limits (on a
#   frozen limiter clock, so exact at any load); TLS with a certificate made
#   here; plain HTTP beyond loopback refused at start; and no secret in the
#   log, the audit, an error or /metrics.
#
# On the first of LK_E2E_BACKENDS (default lmdb; tests/pg/manage.sh runs it on
# postgresql, where two latchkeyd share the store: a key created through
# one works at the other).
. "$(dirname "$0")/../e2e/lib.sh"

LATCHKEYD=$(lk_direct "$LK_BUILDDIR/latchkeyd")
[ -x "$LATCHKEYD" ] || fail "latchkeyd not built"
"$LATCHKEYD" --help >/dev/null 2>&1 || fail "latchkeyd does not run"
command -v curl >/dev/null 2>&1 || skip "curl is not installed"
TESTNAME=manage
LKD_PID=
LOG=$WORK/latchkeyd.log
SECRETS=$WORK/secrets # every secret seen, one a line: none may leak
. "$(dirname "$0")/lkd_manage_lib.sh"

# A port nothing listens on, from a per-run base below the ephemeral range;
# start_daemon moves on when the bind fails anyway.
PORT=$((20000 + ($$ * 7) % 10000))

# daemon_config [EXTRA MANAGE LINES...]: the config, the API on $PORT.
daemon_config() {
    {
        cat "$DIR/base.yaml" # the store and a fast hash, as setup_store wrote them
        printf 'records: {flush_interval_ms: 50}\n'
        printf 'daemon:\n  socket: lkd.sock\n  argon2_workers: 1\n'
        printf '  http: {listen: "127.0.0.1:%s"}\n' $((PORT + 1))
        printf '  manage:\n    listen: "%s"\n' "${LISTEN:-127.0.0.1:$PORT}"
        printf '    timeout_s: 2\n    max_body_bytes: 4096\n'
        for l in "$@"; do printf '    %s\n' "$l"; done
    } >"$CFG"
}

URL() { printf '%s://127.0.0.1:%s/' "${SCHEME:-http}" "$PORT"; }

# call SID SK ACTION JSON-BODY [VERSION]: POST as the caller with that pair
# (SID "-": no credential); sets OUT (the body) and HS (the HTTP status).
call() {
    stale_snapshot
    _sid=$1 _sk=$2 _act=$3 _body=$4 _ver=${5:-2019-01-16}
    _res=$( {
        [ "$_sid" = - ] || printf 'user = "%s:%s"\n' "$_sid" "$_sk"
        printf 'header = "X-TC-Action: %s"\nheader = "X-TC-Version: %s"\n' "$_act" "$_ver"
        printf 'header = "Content-Type: application/json"\n'
    } | timeout 30 curl -s -K - ${CURL_OPTS:-} --data-binary "$_body" -w '\n%{http_code}' "$(URL)") ||
        _res=$'\n'000 # no answer (curl's exit status: connection refused, closed, not TLS)
    OUT=${_res%$'\n'*}
    HS=${_res##*$'\n'}
    ERR=
}

# code: the Error.Code of $OUT, or "" on success.
code() { printf '%s\n' "$OUT" | sed -n 's/^{"Response":{"Error":{"Code":"\([^"]*\)".*/\1/p'; }

# ok: $OUT is a success envelope, HTTP 200.
ok() {
    [ "$HS" = 200 ] || fail "HTTP $HS: $OUT"
    [ -z "$(code)" ] || fail "refused: $OUT"
    json_ok
}

# allowed SECRETID SECRETKEY ACTION BODY [VERSION]: call, and it is served
allowed() {
    call "$@"
    ok
}

# snapshot: the store as the admin tool sees it, without the last-use times
# a verify moves (every call verifies its caller's key).
snapshot() {
    {
        for u in 100 101 102 103 104 200; do
            lk_read --json key list $u
        done
        lk_read --json apikey list 100
        lk_read --json user list
        lk_read --json audit
    } | strip_moving
}
lk_read() { "$LATCHKEY" --config "$CFG" "$@"; }

# $WORK/unchanged: the snapshot taken after the last refusal, kept while
# nothing else has run that may change the store (a request, an admin
# command): it is the next refusal's "before", which saves two thirds of
# this test's admin-tool runs. Everything that may change the store calls
# stale_snapshot (a file, so a change in a subshell counts). A stale
# "before" could only make a refusal look like a change (a false failure),
# never hide one: "after" is always read fresh.
stale_snapshot() { rm -f "$WORK/unchanged"; }
lk() { stale_snapshot; lk_read "$@"; }
curl() { stale_snapshot; command curl "$@"; } # the requests made without call

# Without what moves by itself: last-use times and each answer's RequestId.
strip_moving() {
    sed 's/"LastAccessTime":\("[^"]*"\|null\)//g; s/"RequestId":"[^"]*"}}$//'
}

# refused CODE SID SK ACTION BODY [VERSION]: the call answers CODE (HTTP
# 200, the error envelope) and the store does not change.
refused() {
    _want=$1
    shift
    if [ -f "$WORK/unchanged" ]; then mv "$WORK/unchanged" "$WORK/before"; else snapshot >"$WORK/before"; fi
    call "$@"
    [ "$HS" = 200 ] || fail "$3 $4: HTTP $HS: $OUT"
    [ "$(code)" = "$_want" ] || fail "$3 $4: want $_want, got: $OUT"
    json_error "$_want"
    [ "$2" = - ] || case "$OUT" in *"$2"*) fail "$3: the error shows the caller's SecretKey" ;; esac
    snapshot >"$WORK/after"
    cmp -s "$WORK/before" "$WORK/after" || fail "$3 $4 ($_want) changed the store: $(diff "$WORK/before" "$WORK/after" | head -5)"
    mv "$WORK/after" "$WORK/unchanged"
}

# ------------------------------------------------------------ the accounts

B=${LK_E2E_BACKENDS:-lmdb}
setup_store "${B%% *}"
cp "$CFG" "$DIR/base.yaml"
: >"$SECRETS"
expect_exit 0 lk user add 100 --login alice
expect_exit 0 lk user add 101 --kind sub-user --root 100 --self-service manage --login bob
expect_exit 0 lk user add 102 --kind sub-user --root 100 --self-service read
expect_exit 0 lk user add 103 --kind sub-user --root 100
expect_exit 0 lk user add 104 --kind collaborator --root 100 --self-service manage
expect_exit 0 lk user add 200
for u in 100 101 102 103 104 200; do
    new_key $u
    eval "S$u=\$SID K$u=\$SK"
    printf '%s\n' "$SK" >>"$SECRETS"
done

start_daemon "trusted_proxies: [127.0.0.2]" "user_header: X-Webauth-User"
note "serving on $PORT"

# ------------------------------------------------------------ the matrix

note "root account"
call "$S100" "$K100" ListAccessKeys '{}'
ok
out_has_str "\"AccessKeyId\":\"$S100\",\"Status\":\"Active\""
out_matches_ere "\"CreateTime\":\"$TIME_ERE\""
[ "$(jcount AccessKeyId)" = 1 ] || fail "root lists other users' keys: $OUT"
call "$S100" "$K100" ListAccessKeys '{"TargetUin":101}'
ok
out_has_str "\"AccessKeyId\":\"$S101\""
for t in 102 103 104; do
    call "$S100" "$K100" GetSecurityLastUsed "{\"TargetUin\":$t,\"SecretIdList\":[\"$(eval echo \$S$t)\"]}"
    ok
    out_matches_ere "\"SecretIdLastUsedRows\":\\[\\{\"SecretId\":\"AKID[^\"]*\",\"LastUsedDate\":\"\"\\}\\]" # never used yet
done
refused OperationDenied.UinNotMatch "$S100" "$K100" ListAccessKeys '{"TargetUin":200}'
refused OperationDenied.UinNotMatch "$S100" "$K100" CreateAccessKey '{"TargetUin":200}'
refused OperationDenied.UinNotMatch "$S100" "$K100" UpdateAccessKey "{\"AccessKeyId\":\"$S200\",\"Status\":\"Inactive\"}"
refused OperationDenied.UinNotMatch "$S100" "$K100" DeleteAccessKey "{\"TargetUin\":101,\"AccessKeyId\":\"$S102\"}"
refused InvalidParameter.UserNotExist "$S100" "$K100" ListAccessKeys '{"TargetUin":999}'
refused InvalidParameter.ParamError "$S100" "$K100" UpdateAccessKey \
    '{"AccessKeyId":"AKIDaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","Status":"Inactive"}'
refused FailedOperation.Accesskey "$S100" "$K100" DeleteAccessKey "{\"TargetUin\":103,\"AccessKeyId\":\"$S103\"}"

# A root account manages a member's keys: create, disable, delete; the audit
# names the caller, its key, its address and the answer's RequestId.
call "$S100" "$K100" CreateAccessKey '{"TargetUin":103}'
ok
NEWID=$(jget AccessKeyId)
NEWSK=$(jget SecretAccessKey)
printf '%s\n' "$NEWSK" >>"$SECRETS"
REQ=$(jget RequestId)
[ ${#NEWSK} = 46 ] || fail "no SecretAccessKey in the create answer"
out_has_str '"Status":"Active"'
expect_exit 0 lk --json audit
out_has_str "\"Caller\":{\"Uin\":100,\"SecretId\":\"$S100\",\"Login\":\"\",\"Peer\":\"127.0.0.1\",\"RequestId\":\"$REQ\"}"
call "$S100" "$K100" ListAccessKeys '{"TargetUin":103}'
ok
out_lacks_str "$NEWSK"
out_lacks_str SecretAccessKey
refused OperationDenied.AccessKeyOverLimit "$S100" "$K100" CreateAccessKey '{"TargetUin":103}'
call "$S100" "$K100" UpdateAccessKey "{\"TargetUin\":103,\"AccessKeyId\":\"$NEWID\",\"Status\":\"Inactive\"}"
ok
call "$S100" "$K100" DeleteAccessKey "{\"TargetUin\":103,\"AccessKeyId\":\"$NEWID\"}"
ok
expect_exit 1 lk key show "$NEWID"
refused InvalidParameter.AccessKeyNotExist "$S100" "$K100" UpdateAccessKey \
    "{\"TargetUin\":103,\"AccessKeyId\":\"$NEWID\",\"Status\":\"Active\"}"

note "sub-user granted manage"
call "$S101" "$K101" CreateAccessKey '{}'
ok
B2=$(jget AccessKeyId)
printf '%s\n' "$(jget SecretAccessKey)" >>"$SECRETS"
REQ=$(jget RequestId)
expect_exit 0 lk --json audit
out_has_str "\"Caller\":{\"Uin\":101,\"SecretId\":\"$S101\",\"Login\":\"\",\"Peer\":\"127.0.0.1\",\"RequestId\":\"$REQ\"}"
call "$S101" "$K101" ListAccessKeys '{}'
ok
[ "$(jcount AccessKeyId)" = 2 ] || fail "sub-user does not see its two keys: $OUT"
call "$S101" "$K101" ListAccessRecords "{\"AccessKeyId\":\"$S101\"}"
ok
out_has_str '"Result":"Success"'
refused OperationDenied.AccessKeyOverLimit "$S101" "$K101" CreateAccessKey '{}'
call "$S101" "$K101" UpdateAccessKey "{\"AccessKeyId\":\"$B2\",\"Status\":\"Inactive\"}"
ok
call "$S101" "$K101" DeleteAccessKey "{\"AccessKeyId\":\"$B2\",\"TargetUin\":101}"
ok
refused OperationDenied.SubUin "$S101" "$K101" ListAccessKeys '{"TargetUin":100}'
refused OperationDenied.SubUin "$S101" "$K101" CreateAccessKey '{"TargetUin":100}'
refused AuthFailure.UnauthorizedOperation "$S101" "$K101" ListAccessKeys '{"TargetUin":102}'
refused AuthFailure.UnauthorizedOperation "$S101" "$K101" UpdateAccessKey \
    "{\"TargetUin\":102,\"AccessKeyId\":\"$S102\",\"Status\":\"Inactive\"}"
refused OperationDenied.UinNotMatch "$S101" "$K101" UpdateAccessKey "{\"AccessKeyId\":\"$S102\",\"Status\":\"Inactive\"}"
refused OperationDenied.UinNotMatch "$S101" "$K101" ListAccessKeys '{"TargetUin":200}'
refused OperationDenied.UinNotMatch "$S101" "$K101" GetSecurityLastUsed "{\"SecretIdList\":[\"$S101\",\"$S100\"]}"
refused AuthFailure.UnauthorizedOperation "$S101" "$K101" DescribeApiKeys '{}' 2026-12-07
refused AuthFailure.UnauthorizedOperation "$S101" "$K101" CreateApiKey '{"Name":"mine"}' 2026-12-07

note "sub-user granted read"
call "$S102" "$K102" ListAccessKeys '{}'
ok
call "$S102" "$K102" GetSecurityLastUsed "{\"SecretIdList\":[\"$S102\"]}"
ok
call "$S102" "$K102" ListAccessRecords "{\"AccessKeyId\":\"$S102\"}"
ok
refused AuthFailure.UnauthorizedOperation "$S102" "$K102" CreateAccessKey '{}'
refused AuthFailure.UnauthorizedOperation "$S102" "$K102" UpdateAccessKey "{\"AccessKeyId\":\"$S102\",\"Status\":\"Inactive\"}"
refused AuthFailure.UnauthorizedOperation "$S102" "$K102" DeleteAccessKey "{\"AccessKeyId\":\"$S102\"}"
refused OperationDenied.SubUin "$S102" "$K102" ListAccessKeys '{"TargetUin":100}'
refused AuthFailure.UnauthorizedOperation "$S102" "$K102" ListAccessKeys '{"TargetUin":101}'

note "sub-user not granted"
for a in ListAccessKeys CreateAccessKey; do
    refused AuthFailure.UnauthorizedOperation "$S103" "$K103" $a '{}'
done
refused AuthFailure.UnauthorizedOperation "$S103" "$K103" GetSecurityLastUsed "{\"SecretIdList\":[\"$S103\"]}"
refused AuthFailure.UnauthorizedOperation "$S103" "$K103" ListAccessRecords "{\"AccessKeyId\":\"$S103\"}"
refused AuthFailure.UnauthorizedOperation "$S103" "$K103" UpdateAccessKey "{\"AccessKeyId\":\"$S103\",\"Status\":\"Inactive\"}"
refused OperationDenied.SubUin "$S103" "$K103" ListAccessKeys '{"TargetUin":100}'

note "collaborator granted manage"
call "$S104" "$K104" ListAccessKeys '{}'
ok
out_has_str "$S104"
refused OperationDenied.SubUin "$S104" "$K104" ListAccessKeys '{"TargetUin":100}'
refused AuthFailure.UnauthorizedOperation "$S104" "$K104" ListAccessKeys '{"TargetUin":101}'
refused AuthFailure.UnauthorizedOperation "$S104" "$K104" DeleteApiKey '{"ApiKeyId":"lk-aaaaaaaaaaaa"}' 2026-12-07

note "another account's root"
call "$S200" "$K200" ListAccessKeys '{}'
ok
for t in 100 101 104; do
    refused OperationDenied.UinNotMatch "$S200" "$K200" ListAccessKeys "{\"TargetUin\":$t}"
    refused OperationDenied.UinNotMatch "$S200" "$K200" CreateAccessKey "{\"TargetUin\":$t}"
done
refused OperationDenied.UinNotMatch "$S200" "$K200" DescribeApiKeys '{"TargetUin":100}' 2026-12-07

# ------------------------------------------------------------ UpdateUser

# A member's self-service grant, set by its root account only. Every refusal
# leaves the store (users included) as it was.
note "UpdateUser"
grant_is() { # UIN GRANT: the store holds that grant
    expect_exit 0 lk --json user show "$1"
    out_has_str "\"SelfService\":\"$2\""
}
call "$S100" "$K100" UpdateUser '{"TargetUin":103,"SelfService":"read"}'
ok
[ "$OUT" = "{\"Response\":{\"RequestId\":\"$(jget RequestId)\"}}" ] || fail "UpdateUser's answer: $OUT"
REQ=$(jget RequestId)
grant_is 103 read
expect_exit 0 lk --json audit --user 103
out_has_str "\"Action\":\"user.edit\",\"Target\":\"103\",\"Uin\":103,\"Fields\":\"self-service none → read\""
out_has_str "\"Caller\":{\"Uin\":100,\"SecretId\":\"$S100\",\"Login\":\"\",\"Peer\":\"127.0.0.1\",\"RequestId\":\"$REQ\"}"
# the new grant applies at the member's next request
call "$S103" "$K103" ListAccessKeys '{}'
ok
call "$S100" "$K100" UpdateUser '{"TargetUin":104,"SelfService":"none"}' # a collaborator
ok
grant_is 104 none
call "$S100" "$K100" UpdateUser '{"TargetUin":104,"SelfService":"manage"}'
ok
grant_is 104 manage
# the GET form too
OUT=$(printf 'user = "%s:%s"\n' "$S100" "$K100" |
    curl -s -K - "$(URL)?Action=UpdateUser&Version=2019-01-16&TargetUin=103&SelfService=none")
HS=200
ok
grant_is 103 none
for caller in 101 102 103 104; do # members, whatever their grant: never
    for t in 101 102 103 104 100; do
        refused AuthFailure.UnauthorizedOperation "$(eval echo \$S$caller)" "$(eval echo \$K$caller)" UpdateUser \
            "{\"TargetUin\":$t,\"SelfService\":\"manage\"}"
    done
done
refused OperationDenied.UinNotMatch "$S100" "$K100" UpdateUser '{"TargetUin":200,"SelfService":"read"}'
refused OperationDenied.UinNotMatch "$S200" "$K200" UpdateUser '{"TargetUin":101,"SelfService":"none"}'
refused OperationDenied.UinNotMatch "$S200" "$K200" UpdateUser '{"TargetUin":104,"SelfService":"none"}'
refused MissingParameter "$S100" "$K100" UpdateUser '{"SelfService":"read"}'
out_has_str 'UpdateUser needs TargetUin'
refused MissingParameter "$S100" "$K100" UpdateUser '{"TargetUin":103}'
out_has_str 'UpdateUser needs SelfService'
refused InvalidParameter.UserNotExist "$S100" "$K100" UpdateUser '{"TargetUin":999,"SelfService":"read"}'
refused InvalidParameter.ParamError "$S100" "$K100" UpdateUser '{"TargetUin":100,"SelfService":"read"}'
out_has_str 'TargetUin 100 is a root account'
refused InvalidParameter.ParamError "$S200" "$K200" UpdateUser '{"TargetUin":200,"SelfService":"manage"}'
out_has_str 'TargetUin 200 is a root account'
refused InvalidParameter.ParamError "$S100" "$K100" UpdateUser '{"TargetUin":103,"SelfService":"admin"}'
out_has_str 'SelfService must be'
refused InvalidParameter.ParamError "$S100" "$K100" UpdateUser '{"TargetUin":103,"SelfService":["read"]}'
out_has_str 'SelfService must be'
refused InvalidParameter.ParamError "$S100" "$K100" UpdateUser '{"TargetUin":103,"SelfService":"read","Login":"x"}'
refused InvalidAction "$S100" "$K100" UpdateUser '{"TargetUin":103,"SelfService":"read"}' 2026-12-07

# ------------------------------------------------------------ latchkey's own key actions

# ListAccessKeys with AccessKeyId (latchkey key show): that key alone, with
# its owner and last use; the target is its owner unless TargetUin says.
note "ListAccessKeys with AccessKeyId"
allowed "$S100" "$K100" ListAccessKeys "{\"AccessKeyId\":\"$S101\"}"
out_has_str "\"AccessKeys\":[{\"AccessKeyId\":\"$S101\",\"Status\":\"Active\","
out_has_str '"Uin":101,"LastAccessTime":"'
out_has_str '"TotalCount":1'
allowed "$S102" "$K102" ListAccessKeys "{\"AccessKeyId\":\"$S102\"}" # granted read: its own
allowed "$S101" "$K101" ListAccessKeys "{\"AccessKeyId\":\"$S101\",\"TargetUin\":101}"
# the refusals, one a line: the code, the caller's UIN, the body
while read -r want who body <&3; do
    eval "_cs=\$S$who _ck=\$K$who"
    refused "$want" "$_cs" "$_ck" ListAccessKeys "$body"
done 3<<EOF
AuthFailure.UnauthorizedOperation 103 {"AccessKeyId":"$S103"}
AuthFailure.UnauthorizedOperation 101 {"AccessKeyId":"$S102"}
OperationDenied.SubUin 101 {"AccessKeyId":"$S100"}
OperationDenied.UinNotMatch 200 {"AccessKeyId":"$S101"}
OperationDenied.UinNotMatch 100 {"AccessKeyId":"$S102","TargetUin":101}
InvalidParameter.AccessKeyNotExist 100 {"AccessKeyId":"$NEWID"}
InvalidParameter.ParamError 100 {"AccessKeyId":"AKIDaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
EOF

# key_refusals ACTION MEMBERS: the rules on a change to one access key (MEMBERS:
# the rest of the body): members without the grant, another member's key, the
# root's, a key that is not the target's, another account's.
key_refusals() {
    _a=$1 _x=$2
    refused AuthFailure.UnauthorizedOperation "$S102" "$K102" "$_a" "{\"AccessKeyId\":\"$S102\",$_x}"
    refused AuthFailure.UnauthorizedOperation "$S103" "$K103" "$_a" "{\"AccessKeyId\":\"$S103\",$_x}"
    refused AuthFailure.UnauthorizedOperation "$S101" "$K101" "$_a" "{\"TargetUin\":102,\"AccessKeyId\":\"$S102\",$_x}"
    refused OperationDenied.SubUin "$S101" "$K101" "$_a" "{\"TargetUin\":100,\"AccessKeyId\":\"$S100\",$_x}"
    refused OperationDenied.UinNotMatch "$S101" "$K101" "$_a" "{\"AccessKeyId\":\"$S102\",$_x}"
    refused OperationDenied.UinNotMatch "$S200" "$K200" "$_a" "{\"TargetUin\":101,\"AccessKeyId\":\"$S101\",$_x}"
}

# ModifyAccessKey (latchkey key edit): an access key's expiry; 0 is never.
note "ModifyAccessKey"
expiry_is() { # SECRETID TIME: as the API reads it back ("" never)
    call "$S100" "$K100" ListAccessKeys "{\"AccessKeyId\":\"$1\"}"
    ok
    out_has_str "\"ExpireTime\":\"$2\""
}
allowed "$S104" "$K104" ModifyAccessKey "{\"AccessKeyId\":\"$S104\",\"ExpireTime\":\"2099-01-01 00:00:00\"}"
[ "$OUT" = "{\"Response\":{\"RequestId\":\"$(jget RequestId)\"}}" ] || fail "ModifyAccessKey's answer: $OUT"
REQ=$(jget RequestId)
expiry_is "$S104" "2099-01-01 00:00:00"
expect_exit 0 lk --json audit --key "$S104"
out_has_str "\"Action\":\"key.edit\",\"Target\":\"$S104\",\"Uin\":104,\"Fields\":\"expiry never → 2099-01-01 00:00:00 +0000\""
out_has_str "\"Caller\":{\"Uin\":104,\"SecretId\":\"$S104\",\"Login\":\"\",\"Peer\":\"127.0.0.1\",\"RequestId\":\"$REQ\"}"
allowed "$S100" "$K100" ModifyAccessKey "{\"TargetUin\":104,\"AccessKeyId\":\"$S104\",\"ExpireTime\":0}"
expiry_is "$S104" ""
key_refusals ModifyAccessKey '"ExpireTime":0'
refused MissingParameter "$S101" "$K101" ModifyAccessKey "{\"AccessKeyId\":\"$S101\"}"
refused InvalidParameter.ParamError "$S101" "$K101" ModifyAccessKey "{\"AccessKeyId\":\"$S101\",\"ExpireTime\":\"tomorrow\"}"
out_has_str 'ExpireTime must be'
refused InvalidParameter.ParamError "$S101" "$K101" ModifyAccessKey \
    "{\"AccessKeyId\":\"$S101\",\"ExpireTime\":0,\"Status\":\"Inactive\"}"
refused InvalidAction "$S101" "$K101" ModifyAccessKey "{\"AccessKeyId\":\"$S101\",\"ExpireTime\":0}" 2026-12-07

# RotateAccessKey (latchkey key rotate): a new pair, the old one working for
# GraceSeconds more; the new secret in this answer only.
note "RotateAccessKey"
key_refusals RotateAccessKey '"GraceSeconds":60'
refused MissingParameter "$S104" "$K104" RotateAccessKey "{\"AccessKeyId\":\"$S104\"}"
out_has_str 'RotateAccessKey needs GraceSeconds'
refused InvalidParameter.ParamError "$S104" "$K104" RotateAccessKey "{\"AccessKeyId\":\"$S104\",\"GraceSeconds\":-1}"
refused InvalidParameter.ParamError "$S104" "$K104" RotateAccessKey \
    "{\"AccessKeyId\":\"$S104\",\"GraceSeconds\":60,\"Force\":\"yes\"}"
out_has_str 'Force must be true or false'
refused InvalidParameter.ParamError "$S104" "$K104" RotateAccessKey \
    "{\"AccessKeyId\":\"$S104\",\"GraceSeconds\":60,\"ExpireTime\":\"2001-01-01 00:00:00\"}"
allowed "$S104" "$K104" RotateAccessKey "{\"AccessKeyId\":\"$S104\",\"GraceSeconds\":3600,\"ExpireTime\":\"2098-06-01 00:00:00\"}"
R4=$(jget AccessKeyId)
R4K=$(jget SecretAccessKey)
printf '%s\n' "$R4K" >>"$SECRETS"
REQ=$(jget RequestId)
[ ${#R4K} = 46 ] && [ "$R4" != "$S104" ] || fail "no new pair in the rotation's answer: $OUT"
out_has_str '"Status":"Active"'
out_has_str '"ExpireTime":"2098-06-01 00:00:00"},"RotatedAccessKey":{"AccessKeyId":"'"$S104"'","ExpireTime":"2'
expect_exit 0 lk --json audit --key "$S104"
out_has_str "\"Action\":\"key.rotate\",\"Target\":\"$S104\",\"Uin\":104,"
out_has_str "\"RequestId\":\"$REQ\"}"
allowed "$R4" "$R4K" ListAccessKeys '{}' # the new pair works, and the old one still does
out_lacks_str SecretAccessKey
[ "$(jcount AccessKeyId)" = 2 ] || fail "not two keys after the rotation: $OUT"
refused OperationDenied.AccessKeyOverLimit "$R4" "$R4K" RotateAccessKey "{\"AccessKeyId\":\"$R4\",\"GraceSeconds\":60}"
refused InvalidParameter.ParamError "$S104" "$K104" RotateAccessKey "{\"AccessKeyId\":\"$S104\",\"GraceSeconds\":60}"
# the collaborator retires the old pair with the new one and uses it from now on
allowed "$R4" "$R4K" UpdateAccessKey "{\"AccessKeyId\":\"$S104\",\"Status\":\"Inactive\"}"
allowed "$R4" "$R4K" DeleteAccessKey "{\"AccessKeyId\":\"$S104\"}"
S104=$R4 K104=$R4K
# the root account rotates a member's key (rotations count as creates: 5/s)
allowed "$S100" "$K100" RotateAccessKey "{\"TargetUin\":104,\"AccessKeyId\":\"$S104\",\"GraceSeconds\":0,\"Force\":false}"
R5=$(jget AccessKeyId)
R5K=$(jget SecretAccessKey)
printf '%s\n' "$R5K" >>"$SECRETS"
expiry_is "$R5" "2098-06-01 00:00:00" # carried over without ExpireTime
allowed "$R5" "$R5K" UpdateAccessKey "{\"AccessKeyId\":\"$S104\",\"Status\":\"Inactive\"}"
allowed "$R5" "$R5K" DeleteAccessKey "{\"AccessKeyId\":\"$S104\"}"
S104=$R5 K104=$R5K

# CreateAccessKey with ExpireTime (latchkey key create --expires), and the
# Reason of every change (latchkey --reason), in its audit entry.
note "ExpireTime on create, Reason on changes"
refused InvalidParameter.ParamError "$S100" "$K100" CreateAccessKey '{"TargetUin":103,"ExpireTime":"2001-01-01 00:00:00"}'
refused AuthFailure.UnauthorizedOperation "$S103" "$K103" CreateAccessKey '{"ExpireTime":"2097-01-01 00:00:00"}'
allowed "$S100" "$K100" CreateAccessKey '{"TargetUin":103,"ExpireTime":"2097-01-01 00:00:00","Reason":"CI runner"}'
E3=$(jget AccessKeyId)
printf '%s\n' "$(jget SecretAccessKey)" >>"$SECRETS"
out_has_str '"Status":"Active","CreateTime":"'
out_has_str '"ExpireTime":"2097-01-01 00:00:00"}'
expiry_is "$E3" "2097-01-01 00:00:00"
expect_exit 0 lk --json audit --key "$E3"
out_has_str "\"Action\":\"key.create\",\"Target\":\"$E3\",\"Uin\":103,\"Fields\":\"expiry 2097-01-01 00:00:00 +0000\",\"Reason\":\"CI runner\",\"Caller\":{\"Uin\":100,"
refused InvalidParameter.ParamError "$S100" "$K100" UpdateAccessKey \
    "{\"TargetUin\":103,\"AccessKeyId\":\"$E3\",\"Status\":\"Inactive\",\"Reason\":\"a\\u0007b\"}"
out_has_str 'reason'
refused InvalidParameter.ParamError "$S100" "$K100" UpdateAccessKey \
    "{\"TargetUin\":103,\"AccessKeyId\":\"$E3\",\"Status\":\"Inactive\",\"Reason\":\"leaked: $K103\"}"
out_has_str 'a secret is never written to the audit log'
out_lacks_str "$K103"
refused InvalidParameter.ParamError "$S100" "$K100" ListAccessKeys '{"Reason":"why"}'
allowed "$S100" "$K100" UpdateAccessKey "{\"TargetUin\":103,\"AccessKeyId\":\"$E3\",\"Status\":\"Inactive\",\"Reason\":\"leaked\"}"
allowed "$S100" "$K100" DeleteAccessKey "{\"TargetUin\":103,\"AccessKeyId\":\"$E3\"}" # no Reason: none carried over
expect_exit 0 lk --json audit --key "$E3"
out_has_str "\"Action\":\"key.disable\",\"Target\":\"$E3\",\"Uin\":103,\"Fields\":\"status Active → Inactive\",\"Reason\":\"leaked\""
out_has_str "\"Action\":\"key.delete\",\"Target\":\"$E3\",\"Uin\":103,\"Fields\":\"\",\"Reason\":\"\""

# ------------------------------------------------------------ API keys

note "API keys"
call "$S100" "$K100" CreateApiKey '{"Name":"ci","Description":"the CI","Scope":["deploy"],"IpAllowlist":["127.0.0.1/32"],"ExpireTime":"2099-01-01 00:00:00","RateLimit":50,"RateWindowSeconds":60}' 2026-12-07
ok
AKV=$(jget ApiKey)
AKI=$(jget ApiKeyId)
printf '%s\n' "$AKV" >>"$SECRETS"
[ ${#AKV} = 57 ] || fail "no API key in the create answer: $OUT"
out_has_str '"Scope":["deploy"],"IpAllowlist":["127.0.0.1"]' # a /32 is the address
out_has_str '"ExpireTime":"2099-01-01 00:00:00","RateLimit":50,"RateWindowSeconds":60'
call "$S100" "$K100" DescribeApiKeys '{}' 2026-12-07
ok
out_lacks_str "$AKV"
out_has_str "\"ApiKeyId\":\"$AKI\",\"Name\":\"ci\",\"Description\":\"the CI\",\"MaskedKey\":\"${AKV:0:5}***${AKV:53:4}\""
refused InvalidParameter.ParamError "$S100" "$K100" ModifyApiKey "{\"ApiKeyId\":\"$AKI\",\"Name\":\"renamed\"}" 2026-12-07
refused InvalidParameter.ApiKeyNameExist "$S100" "$K100" CreateApiKey '{"Name":"ci"}' 2026-12-07
refused FailedOperation.Accesskey "$S100" "$K100" DeleteApiKey "{\"ApiKeyId\":\"$AKI\"}" 2026-12-07
refused OperationDenied.UinNotMatch "$S200" "$K200" ModifyApiKey "{\"ApiKeyId\":\"$AKI\",\"Status\":\"Inactive\"}" 2026-12-07
call "$S100" "$K100" ModifyApiKey "{\"ApiKeyId\":\"$AKI\",\"Description\":\"changed\",\"Scope\":[\"all\"],\"Status\":\"Inactive\"}" 2026-12-07
ok
expect_exit 0 lk --json apikey show "$AKI"
out_has_str '"Description":"changed"'
out_has_str '"Status":"Inactive"'
# An API key is a data-plane credential: refused as a caller, with its own code.
OUT=$(printf 'header = "Authorization: Bearer %s"\nheader = "X-TC-Action: ListAccessKeys"\nheader = "X-TC-Version: 2019-01-16"\nheader = "Content-Type: application/json"\n' "$AKV" |
    curl -s -K - --data-binary '{}' "$(URL)")
ERR=
json_error AuthFailure.ApiKeyNotAccepted
call "$S100" "$K100" DeleteApiKey "{\"ApiKeyId\":\"$AKI\"}" 2026-12-07
ok
expect_exit 1 lk apikey show "$AKI"
# DescribeApiKeys with ApiKeyId or Name (latchkey apikey show), RerollApiKey (latchkey apikey reroll)
allowed "$S100" "$K100" CreateApiKey '{"Name":"deploy"}' 2026-12-07
AKI=$(jget ApiKeyId)
printf '%s\n' "$(jget ApiKey)" >>"$SECRETS"
allowed "$S100" "$K100" DescribeApiKeys "{\"ApiKeyId\":\"$AKI\"}" 2026-12-07
out_has_str "\"ApiKeys\":[{\"ApiKeyId\":\"$AKI\",\"Name\":\"deploy\","
out_has_str '"TotalCount":1'
allowed "$S100" "$K100" DescribeApiKeys '{"Name":"deploy"}' 2026-12-07
out_has_str "\"ApiKeyId\":\"$AKI\""
refused InvalidParameter.AccessKeyNotExist "$S100" "$K100" DescribeApiKeys '{"Name":"nope"}' 2026-12-07
refused OperationDenied.UinNotMatch "$S200" "$K200" DescribeApiKeys "{\"ApiKeyId\":\"$AKI\"}" 2026-12-07
refused AuthFailure.UnauthorizedOperation "$S101" "$K101" DescribeApiKeys "{\"ApiKeyId\":\"$AKI\"}" 2026-12-07
refused AuthFailure.UnauthorizedOperation "$S101" "$K101" RerollApiKey "{\"ApiKeyId\":\"$AKI\",\"GraceSeconds\":60}" 2026-12-07
refused OperationDenied.UinNotMatch "$S200" "$K200" RerollApiKey "{\"ApiKeyId\":\"$AKI\",\"GraceSeconds\":60}" 2026-12-07
refused MissingParameter "$S100" "$K100" RerollApiKey "{\"ApiKeyId\":\"$AKI\"}" 2026-12-07
refused InvalidAction "$S100" "$K100" RerollApiKey "{\"ApiKeyId\":\"$AKI\",\"GraceSeconds\":60}"
allowed "$S100" "$K100" RerollApiKey "{\"ApiKeyId\":\"$AKI\",\"GraceSeconds\":600}" 2026-12-07
AKV2=$(jget ApiKey)
printf '%s\n' "$AKV2" >>"$SECRETS"
REQ=$(jget RequestId)
[ ${#AKV2} = 57 ] || fail "no API key in the reroll's answer: $OUT"
out_has_str "\"RerolledApiKey\":{\"ApiKeyId\":\"$AKI\",\"ExpireTime\":\"2"
expect_exit 0 lk --json audit --key "$AKI"
out_has_str "\"Action\":\"apikey.reroll\",\"Target\":\"$AKI\""
out_has_str "\"RequestId\":\"$REQ\"}"
expect_exit_in "$AKV2" 0 lk verify --apikey
refused InvalidParameter.ParamError "$S100" "$K100" RerollApiKey "{\"ApiKeyId\":\"$AKI\",\"GraceSeconds\":60}" 2026-12-07
# ListApiKeyRecords: the verification just made, under the new value's id
AKI2=${AKV2:0:15}
allowed "$S100" "$K100" ListApiKeyRecords "{\"ApiKeyId\":\"$AKI2\"}" 2026-12-07
out_has_str "\"ApiKeyId\":\"$AKI2\",\"LastAccessTime\":"
out_has_str '"Result":"Success"'
refused AuthFailure.UnauthorizedOperation "$S101" "$K101" ListApiKeyRecords "{\"ApiKeyId\":\"$AKI2\"}" 2026-12-07
refused OperationDenied.UinNotMatch "$S200" "$K200" ListApiKeyRecords "{\"ApiKeyId\":\"$AKI2\"}" 2026-12-07
refused MissingParameter "$S100" "$K100" ListApiKeyRecords '{}' 2026-12-07
# ModifyApiKey's expiry and request limit (latchkey apikey edit --expires, --rate-limit)
allowed "$S100" "$K100" ModifyApiKey "{\"ApiKeyId\":\"$AKI2\",\"ExpireTime\":\"2096-01-01 00:00:00\",\"RateLimit\":10,\"RateWindowSeconds\":60}" 2026-12-07
allowed "$S100" "$K100" DescribeApiKeys "{\"ApiKeyId\":\"$AKI2\"}" 2026-12-07
out_has_str '"ExpireTime":"2096-01-01 00:00:00","RateLimit":10,"RateWindowSeconds":60}'
allowed "$S100" "$K100" ModifyApiKey "{\"ApiKeyId\":\"$AKI2\",\"ExpireTime\":0,\"RateLimit\":0}" 2026-12-07
allowed "$S100" "$K100" DescribeApiKeys "{\"ApiKeyId\":\"$AKI2\"}" 2026-12-07
out_has_str '"ExpireTime":"","RateLimit":0,"RateWindowSeconds":0}'
refused InvalidParameter.ParamError "$S100" "$K100" ModifyApiKey "{\"ApiKeyId\":\"$AKI2\",\"RateWindowSeconds\":60}" 2026-12-07
# a past expiry is the library's "expire it now" (the admin tool refuses one before sending it)
allowed "$S100" "$K100" ModifyApiKey "{\"ApiKeyId\":\"$AKI2\",\"ExpireTime\":\"2001-01-01 00:00:00\"}" 2026-12-07
expect_exit_in "$AKV2" 3 lk verify --apikey

# ------------------------------------------------------------ the caller

note "callers"
refused AuthFailure.InvalidAuthorization - - ListAccessKeys '{}'
refused AuthFailure.SignatureFailure "$S101" "LKSKwrongwrongwrongwrongwrongwrongwrongwrong00" ListAccessKeys '{}'
refused AuthFailure.InvalidSecretId "AKIDaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "$K101" ListAccessKeys '{}'
refused AuthFailure.SecretIdNotFound "$NEWID" "$NEWSK" ListAccessKeys '{}'
OUT=$(printf 'header = "Authorization: TC3-HMAC-SHA256 Credential=%s/2026-12-07/cam/tc3_request, SignedHeaders=content-type;host, Signature=00"\nheader = "X-TC-Action: ListAccessKeys"\nheader = "X-TC-Version: 2019-01-16"\nheader = "Content-Type: application/json"\n' "$S100" |
    curl -s -K - --data-binary '{}' "$(URL)")
ERR=
json_error AuthFailure.InvalidAuthorization
out_has_str 'TC3-HMAC-SHA256 signatures are not accepted'
# Bearer SecretId:SecretKey, and the GET form of the seed's example
OUT=$(printf 'header = "Authorization: Bearer %s:%s"\n' "$S100" "$K100" |
    curl -s -K - "$(URL)?Action=ListAccessKeys&Version=2019-01-16&TargetUin=101")
HS=200
ok
out_has_str "$S101"
OUT=$(printf 'user = "%s:%s"\n' "$S100" "$K100" | curl -s -K - "$(URL)?Action=ListAccessKeys&Version=2019-01-16&TargetUIN=101")
json_error InvalidParameter.ParamError
# disabled by its root: refused at its next request
call "$S102" "$K102" ListAccessKeys '{}'
ok
call "$S100" "$K100" UpdateAccessKey "{\"TargetUin\":102,\"AccessKeyId\":\"$S102\",\"Status\":\"Inactive\"}"
ok
refused AuthFailure.SignatureFailure "$S102" "$K102" ListAccessKeys '{}'
call "$S100" "$K100" UpdateAccessKey "{\"TargetUin\":102,\"AccessKeyId\":\"$S102\",\"Status\":\"Active\"}"
ok

note "a trusted proxy names the user"
PROXY='header = "X-Webauth-User: bob"'
OUT=$(printf '%s\nheader = "X-TC-Action: CreateAccessKey"\nheader = "X-TC-Version: 2019-01-16"\nheader = "Content-Type: application/json"\n' "$PROXY" |
    curl -s -K - --interface 127.0.0.2 --data-binary '{}' "$(URL)")
HS=200
ok
B3=$(jget AccessKeyId)
printf '%s\n' "$(jget SecretAccessKey)" >>"$SECRETS"
REQ=$(jget RequestId)
expect_exit 0 lk --json audit
out_has_str "\"Caller\":{\"Uin\":101,\"SecretId\":\"\",\"Login\":\"bob\",\"Peer\":\"127.0.0.2\",\"RequestId\":\"$REQ\"}"
expect_exit 0 lk --json key show "$B3"
out_has_str '"Uin":101'
# the same header from a peer that is no trusted proxy: ignored and logged
snapshot >"$WORK/before"
OUT=$(printf '%s\nheader = "X-TC-Action: CreateAccessKey"\nheader = "X-TC-Version: 2019-01-16"\nheader = "Content-Type: application/json"\n' "$PROXY" |
    curl -s -K - --data-binary '{}' "$(URL)")
json_error AuthFailure.InvalidAuthorization
snapshot >"$WORK/after"
cmp -s "$WORK/before" "$WORK/after" || fail "an untrusted user header changed the store"
grep -q "ignored X-Webauth-User 'bob' from 127.0.0.1, which is not a trusted proxy" "$LOG.cur" ||
    fail "the ignored header is not logged"
# a login bound to nobody
OUT=$(printf 'header = "X-Webauth-User: mallory"\nheader = "X-TC-Action: ListAccessKeys"\nheader = "X-TC-Version: 2019-01-16"\nheader = "Content-Type: application/json"\n' |
    curl -s -K - --interface 127.0.0.2 --data-binary '{}' "$(URL)")
json_error AuthFailure.LoginNotMatch

# ------------------------------------------------------------ transport

note "bad requests"
refused InvalidAction "$S100" "$K100" DropAllKeys '{}'
refused InvalidAction "$S100" "$K100" ListAccessKeys '{}' 2017-03-12
refused MissingParameter "$S100" "$K100" UpdateAccessKey "{\"AccessKeyId\":\"$S100\"}"
refused InvalidParameter.ParamError "$S100" "$K100" ListAccessKeys '{"TargetUin":"abc"}'
refused InvalidParameter.ParamError "$S100" "$K100" ListAccessKeys '{"TargetUin":'
refused InvalidParameter.ParamError "$S100" "$K100" ListAccessKeys "$(printf '\001\002\377garbage')"
refused InvalidParameter.ParamError "$S100" "$K100" ListAccessKeys '["TargetUin",100]'
# oversized: 413 with the envelope, whether announced (Content-Length) or chunked
BIG=$(head -c 5000 /dev/zero | tr '\0' ' ')
call "$S100" "$K100" ListAccessKeys "{$BIG}"
[ "$HS" = 413 ] || fail "an oversized body: HTTP $HS"
json_error InvalidParameter.ParamError
CURL_OPTS='-H Transfer-Encoding:chunked' call "$S100" "$K100" ListAccessKeys "{$BIG}"
[ "$HS" = 413 ] || fail "an oversized chunked body: HTTP $HS"
# wrong Content-Type, method, path
OUT=$(printf 'user = "%s:%s"\nheader = "X-TC-Action: CreateAccessKey"\nheader = "X-TC-Version: 2019-01-16"\nheader = "Content-Type: application/x-www-form-urlencoded"\n' "$S100" "$K100" |
    curl -s -K - --data-binary 'TargetUin=101' -w '\n%{http_code}' "$(URL)")
[ "${OUT##*$'\n'}" = 415 ] || fail "a form body: HTTP ${OUT##*$'\n'}"
OUT=${OUT%$'\n'*}
json_error InvalidParameter.ParamError
[ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$(URL)")" = 405 ] || fail "PUT is not 405"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$(URL)verify")" = 404 ] || fail "/verify is not 404 on the API"
HEADERS=$(printf 'user = "%s:%s"\n' "$S100" "$K100" | curl -s -K - -D - -o /dev/null "$(URL)?Action=ListAccessKeys&Version=2019-01-16")
printf '%s\n' "$HEADERS" | grep -qi '^Cache-Control: no-store' || fail "no Cache-Control: no-store"

note "a slow client"
exec 5<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n' >&5
call "$S100" "$K100" ListAccessKeys '{}' # answered while the slow one holds its connection
ok
# the slow one is closed after timeout_s (2 s); 60 s is only a deadline
timeout 60 cat <&5 >/dev/null || fail "a slow client's connection was not closed"
exec 5<&-

# ------------------------------------------------------------ no secret anywhere

note "no secret in the log, the audit, errors or /metrics"
METRICS=$(curl -s "http://127.0.0.1:$((PORT + 1))/metrics")
[ -n "$METRICS" ] || fail "no /metrics"
printf '%s\n' "$METRICS" | grep -Eq '^latchkey_manage_requests_total\{result="refused"\} [1-9][0-9]*$' ||
    fail "/metrics does not count the API's refusals"
printf '%s\n' "$METRICS" | grep -Eq '^latchkey_manage_requests_total\{result="ok"\} [1-9][0-9]*$' ||
    fail "/metrics does not count the API's answers"
expect_exit 0 lk --json audit
AUDIT=$OUT
while read -r s; do
    [ -n "$s" ] || continue
    ! grep -qF -- "$s" "$LOG" "$LOG.cur" || fail "a secret is in latchkeyd's log"
    case "$AUDIT$METRICS" in *"$s"*) fail "a secret is in the audit or /metrics" ;; esac
done <"$SECRETS"
if [ "$BACKEND" = postgresql ]; then
    note "two latchkeyd on one PostgreSQL store"
    PORT2=$((PORT + 5))
    {
        cat "$DIR/base.yaml"
        printf 'daemon:\n  socket: lkd2.sock\n  manage: {listen: "127.0.0.1:%s"}\n' "$PORT2"
    } >"$DIR/second.yaml"
    "$LATCHKEYD" --config "$DIR/second.yaml" 2>"$WORK/second.log" &
    SECOND=$!
    _i=0
    until grep -q 'serving the management API' "$WORK/second.log"; do
        _i=$((_i + 1))
        [ $_i -lt 600 ] && kill -0 $SECOND 2>/dev/null || fail "the second latchkeyd did not start: $(cat "$WORK/second.log")"
        sleep 0.05
    done
    call "$S100" "$K100" CreateAccessKey '{"TargetUin":104}' # through the first
    ok
    C2=$(jget AccessKeyId)
    C2K=$(jget SecretAccessKey)
    printf '%s\n' "$C2K" >>"$SECRETS"
    call "$C2" "$C2K" ListAccessKeys '{}' # verified (and cached) at the first
    ok
    _p=$PORT
    PORT=$PORT2
    call "$C2" "$C2K" ListAccessKeys '{}' # its new key works at the second
    ok
    out_has_str "$C2"
    call "$C2" "$C2K" UpdateAccessKey "{\"AccessKeyId\":\"$C2\",\"Status\":\"Inactive\"}"
    ok
    PORT=$_p
    # disabled through the second: the first hears of it (NOTIFY) and refuses;
    # 30 s is only a deadline
    _i=0
    while call "$C2" "$C2K" ListAccessKeys '{}' && [ "$(code)" != AuthFailure.SignatureFailure ]; do
        _i=$((_i + 1))
        [ $_i -lt 600 ] || fail "the first latchkeyd still accepts a key the second disabled: $OUT"
        sleep 0.05
    done
    kill -TERM $SECOND
    wait $SECOND || fail "the second latchkeyd exited $?"
    ! grep -qF -- "$C2K" "$WORK/second.log" || fail "a secret is in the second latchkeyd's log"
fi
stop_daemon

# ------------------------------------------------------------ limits

note "request limits (frozen limiter clock: exact at any load)"
LATCHKEYD_TEST_FROZEN_LIMITS=1
export LATCHKEYD_TEST_FROZEN_LIMITS
start_daemon
for i in $(seq 20); do
    call "$S100" "$K100" ListAccessKeys '{}'
    ok
done
refused RequestLimitExceeded "$S100" "$K100" ListAccessKeys '{}'
for i in 1 2 3 4 5; do
    call "$S100" "$K100" UpdateAccessKey "{\"AccessKeyId\":\"$S100\",\"Status\":\"Active\"}"
    ok
done
refused RequestLimitExceeded "$S100" "$K100" UpdateAccessKey "{\"AccessKeyId\":\"$S100\",\"Status\":\"Inactive\"}"
refused RequestLimitExceeded "$S100" "$K100" UpdateUser '{"TargetUin":103,"SelfService":"read"}' # the same class
call "$S101" "$K101" ListAccessKeys '{}' # another caller has its own
ok
stop_daemon
unset LATCHKEYD_TEST_FROZEN_LIMITS

# ------------------------------------------------------------ TLS and plain HTTP

note "TLS"
command -v openssl >/dev/null 2>&1 || fail "openssl is needed for the TLS test"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null ||
    fail "openssl could not make a certificate"
start_daemon "tls_cert: cert.pem" "tls_key: $DIR/key.pem"
grep -q "serving the management API on 127.0.0.1:$PORT (TLS" "$LOG.cur" || fail "not TLS: $(cat "$LOG.cur")"
SCHEME=https CURL_OPTS="--cacert $DIR/cert.pem" call "$S101" "$K101" ListAccessKeys '{}'
ok
out_has_str "$S101"
# the plain-HTTP request gets no answer from a TLS port
call "$S101" "$K101" ListAccessKeys '{}'
[ "$HS" != 200 ] || fail "plain HTTP answered on the TLS port"
stop_daemon

note "plain HTTP beyond loopback"
LISTEN="0.0.0.0:$PORT" daemon_config
run "$LATCHKEYD" --config "$CFG"
[ "$RC" = 4 ] || fail "latchkeyd started with plain HTTP on 0.0.0.0 (exit $RC)"
err_has 'daemon.manage.listen 0.0.0.0:[0-9]* is not a loopback address and daemon.manage.tls_cert is not set'
daemon_config "tls_cert: $DIR/cert.pem"
run "$LATCHKEYD" --config "$CFG"
[ "$RC" = 4 ] || fail "latchkeyd started with a certificate and no key (exit $RC)"
err_has 'daemon.manage.tls_cert is set but daemon.manage.tls_key is not'
# with trusted proxies only they may connect
LISTEN="0.0.0.0:$PORT" start_daemon "trusted_proxies: [127.0.0.2]"
grep -q 'plain HTTP, trusted proxies only' "$LOG.cur" || fail "not restricted to the proxies"
call "$S100" "$K100" ListAccessKeys '{}'
[ "$HS" != 200 ] || fail "a peer that is no trusted proxy was answered on plain HTTP"
CURL_OPTS='--interface 127.0.0.2' call "$S100" "$K100" ListAccessKeys '{}'
ok
stop_daemon
note "ok"
