#!/bin/bash
# remote.sh — the admin tool as a client of latchkeyd's management API
# (issue 20): a real latchkeyd with daemon.manage on 127.0.0.1, plain HTTP
# and then TLS with a self-signed certificate made here, and `latchkey
# --endpoint` as a sub-user granted `manage`, from its own "machine" (its
# own HOME, no access to the store's config).
#
#   as the sub-user: create (the secret printed as locally), list (text, and
#   --json the same as the local tool's), disable and delete its own keys;
#   refused on its root's keys with OperationDenied.SubUin (exit 1) and the
#   store unchanged; every change in the local `latchkey audit` with its own
#   UIN as the caller. The credentials: the default file, --credentials, the
#   environment; a file open to others refused; a wrong secret refused
#   (AuthFailure, exit 3); an unreachable endpoint, plain http:// beyond
#   loopback, commands and options the API does not carry: clear errors.
#   TLS: --cacert with the test's CA works; without it, or with another CA,
#   a TLS error. No secret in latchkeyd's log.
. "$(dirname "$0")/../e2e/lib.sh"

LATCHKEYD=$(lk_direct "$LK_BUILDDIR/latchkeyd")
[ -x "$LATCHKEYD" ] || fail "latchkeyd not built"
[ "${LK_HAVE_HTTP:-yes}" = yes ] || skip "latchkeyd is built without HTTP (libmicrohttpd)"
command -v openssl >/dev/null 2>&1 || skip "openssl is not installed (the TLS certificate is made with it)"
TESTNAME=remote
BACKEND=lmdb
LOG=$WORK/latchkeyd.log
LKD_CFG=$WORK/lkd.yaml
. "$(dirname "$0")/lkd_manage_lib.sh"
PORT=$((21000 + ($$ * 11) % 9000))

# daemon_config [EXTRA MANAGE LINES...]: the service on the test's store, the API on $PORT.
daemon_config() {
    {
        printf 'store: {backend: lmdb, path: %s}\n' "$STORE"
        printf 'hash: {opslimit: 1, memlimit_kib: 8}\n'
        printf 'records: {flush_interval_ms: 50}\n'
        printf 'daemon:\n  socket: %s/lkd.sock\n  argon2_workers: 1\n' "$WORK"
        printf '  manage:\n    listen: "127.0.0.1:%s"\n' "$PORT"
        for l in "$@"; do printf '    %s\n' "$l"; done
    } >"$LKD_CFG"
}

no_request_id() { printf '%s\n' "$OUT" | sed 's/"RequestId":"[^"]*"//'; }

# local_json_is CMD...: the local tool's --json answer equals $REMOTE_JSON
# (up to the RequestId) once latchkeyd has flushed the access record of the
# remote call (its caller's key moved: last use); polled, never timed.
local_json_is() {
    _i=0
    while :; do
        expect_exit 0 lk --json "$@"
        [ "$(no_request_id)" = "$REMOTE_JSON" ] && return 0
        _i=$((_i + 1))
        [ $_i -lt 600 ] || fail "$* --json differs: remote $REMOTE_JSON, local $OUT"
        sleep 0.05
    done
}

# json_as_locally WHO CMD...: WHO's (remote's, root's) --json answer to CMD
# through the API is the local tool's
json_as_locally() {
    _who=$1
    shift
    expect_exit 0 "$_who" --json "$@"
    json_ok
    REMOTE_JSON=$(no_request_id)
    local_json_is "$@"
}

# The sub-user's side: its own HOME, no store config, the API's URL.
HOMEDIR=$WORK/home
mkdir -p "$HOMEDIR/.config/latchkey"
# The API allows a caller 5 changes a second (the seeds' limit): on a quiet
# machine this script's creates come faster than that, so a command refused
# with RequestLimitExceeded is sent again after a pause (at most 20 times);
# every other answer is the command's own. Not timed: load only slows it.
retry_limited() {
    _try=0
    while :; do
        _rc=0
        "$@" >"$WORK/retry.out" 2>"$WORK/retry.err" || _rc=$?
        if [ "$_rc" != 0 ] && [ "$_try" -lt 20 ] && grep -qs 'RequestLimitExceeded' "$WORK/retry.out" "$WORK/retry.err"; then
            _try=$((_try + 1))
            sleep 0.5
            continue
        fi
        cat "$WORK/retry.out"
        cat "$WORK/retry.err" >&2
        return "$_rc"
    done
}
remote_at() {
    _url=$1
    shift
    retry_limited env -u LATCHKEY_CONFIG HOME="$HOMEDIR" XDG_CONFIG_HOME= "$LATCHKEY" --endpoint "$_url" "$@"
}
remote() { remote_at "$URL" "$@"; }

# heap_clean ARGS...: `remote ARGS` (a create) under tests/e2e/heapscan, which
# reports a freed heap block holding a secret: the new secret in the answer
# (libcurl's buffers, OpenSSL's, json-c's) must never be left in freed memory.
SCAN=$LK_BUILDDIR/tests/e2e/.libs/heapscan.so
if [ -f "$SCAN" ] && [ "$LK_OWN_BUILD" = 1 ] && LD_PRELOAD=$SCAN "$LATCHKEY" --version >/dev/null 2>&1; then
    heap_clean() {
        run retry_limited env LD_PRELOAD="$SCAN" HOME="$HOMEDIR" XDG_CONFIG_HOME= "$LATCHKEY" --endpoint "$URL" "$@"
        [ "$RC" = 0 ] || fail "$* under heapscan: exit $RC"
        err_lacks_str heapscan
        SECRETS="$SECRETS $(printf '%s\n' "$OUT" | grep -oE 'LKSK[0-9A-Za-z]{42}|lk-[0-9A-Za-z]{54}' | tr '\n' ' ')"
    }
else
    heap_clean() { note "heapscan cannot be preloaded here: skipped $*"; }
fi

# The store's side: the operator grants the sub-user and gives it its first key.
setup_store lmdb
expect_exit 0 lk user add 100
expect_exit 0 lk user add 101 --kind sub-user --root 100 --self-service manage
expect_exit 0 lk user add 102 --kind sub-user --root 100
expect_exit 0 lk --json key create 100
ROOTKEY=$(jget AccessKeyId)
ROOTSK=$(jget SecretAccessKey)
printf 'secret_id = %s\nsecret_key = %s\n' "$ROOTKEY" "$ROOTSK" >"$WORK/rootcred"
chmod 600 "$WORK/rootcred"
expect_exit 0 lk --json key create 101
SID=$(jget AccessKeyId)
SK=$(jget SecretAccessKey)
CRED=$HOMEDIR/.config/latchkey/credentials
printf '# latchkey credentials of user 101\nsecret_id = %s\nsecret_key = %s\n' "$SID" "$SK" >"$CRED"
chmod 600 "$CRED"
SECRETS=$SK

start_daemon
URL="http://127.0.0.1:$PORT"

# ---- the sub-user manages its own keys (credentials: the default file)
expect_exit 0 remote key create 101
out_matches_ere '^SecretId: +AKID[0-9A-Za-z]{32}$'
out_matches_ere '^SecretKey: +LKSK[0-9A-Za-z]{42}$'
out_has '^Status: *Active$'
err_has_str 'this is the only time the SecretKey is shown'
NEW=$(printf '%s\n' "$OUT" | sed -n 's/^SecretId: *//p')
NEWSK=$(printf '%s\n' "$OUT" | sed -n 's/^SecretKey: *//p')
SECRETS="$SECRETS $NEWSK"
# the new pair works: it verifies at the store
expect_exit_in "$NEWSK" 0 lk verify "$NEW"

expect_exit 0 remote key list 101
out_has_str "$SID"
out_has_str "$NEW"
out_has '^SecretId  *Status  *CreateTime  *LastAccessTime  *ExpireTime$'

# --json: the local tool's answer, up to the RequestId. The caller's own key
# moves on each request (its last use): wait until latchkeyd has flushed
# that record, then both read the same.
json_as_locally remote key list 101

# disable and delete, by SecretId alone: the caller's own key
expect_exit 0 remote --json key disable "$NEW"
json_ok
expect_exit 0 remote key delete "$NEW"
out_has_str "Deleted access key $NEW."
expect_exit 0 lk key list 101
out_lacks_str "$NEW"
expect_exit_in "$NEWSK" 3 lk verify "$NEW"

# ---- refused on its root's keys: OperationDenied.SubUin, exit 1, nothing changed
expect_exit 1 remote key list 100
expect_error 'OperationDenied\.SubUin'
expect_exit 1 remote key disable "$ROOTKEY" --uin 100
expect_error 'OperationDenied\.SubUin'
expect_exit 1 remote key create 100
expect_error 'OperationDenied\.SubUin'
expect_exit 1 remote --json key delete "$ROOTKEY" --uin 100
json_error 'OperationDenied\.SubUin'
# without --uin the key is taken as its own: not its own, refused
expect_exit 1 remote key disable "$ROOTKEY"
expect_error 'OperationDenied\.UinNotMatch'
expect_exit 0 lk key list 100
out_has "^$ROOTKEY  *Active "
# API keys are the root account's
expect_exit 3 remote apikey create 100 --name ci
expect_error 'AuthFailure\.UnauthorizedOperation'

# ---- every change in the store's audit log, with the sub-user as the caller
expect_exit 0 lk --json audit --user 101
for a in key.create key.disable key.delete; do
    printf '%s\n' "$OUT" | grep -q "\"Action\":\"$a\",\"Target\":\"$NEW\",\"Uin\":101,[^}]*\"Caller\":{\"Uin\":101,\"SecretId\":\"$SID\"" ||
        fail "the audit log lacks $a of $NEW by caller 101: $OUT"
done
expect_exit 0 lk audit --user 101
out_has "101/$SID@127\.0\.0\.1 .* key\.delete  *$NEW"
# the refusals changed nothing
expect_exit 0 lk --json audit --user 100
[ "$(jcount '"Caller":{')" = 0 ] || fail "a refused request was audited: $OUT"

# ---- records through the API: the caller's own key
expect_exit 0 remote records "$SID"
out_has '^LastAccessTime: '
out_has 'Success'

# ---- show, edit (expiry) and rotate its own key, as locally
expect_exit 0 remote key show "$SID"
out_has "^SecretId: *$SID\$"
out_has '^Uin: *101$'
out_has '^Status: *Active$'
out_has '^ExpireTime: *-$'
json_as_locally remote key show "$SID"
expect_exit 0 remote key edit "$SID" --expires 2099-01-01
out_has_str "Updated access key $SID: ExpireTime 2099-01-01 00:00:00 +0000."
expect_exit 0 lk key show "$SID"
out_has '^ExpireTime: *2099-01-01 00:00:00 +0000$'
expect_exit 0 remote --json key show "$SID"
out_has_str '"ExpireTime":"2099-01-01 00:00:00"'
expect_exit 0 remote key rotate "$SID" --grace 1h
out_matches_ere '^SecretId: +AKID[0-9A-Za-z]{32}$'
out_matches_ere '^SecretKey: +LKSK[0-9A-Za-z]{42}$'
out_has '^ExpireTime: *2099-01-01 00:00:00 +0000$' # carried over
out_has "^RotatedSecretId: *$SID\$"
out_matches_ere '^RotatedExpireTime: +20[0-9-]{8} [0-9:]{8} [+]0000$'
err_has_str 'this is the only time the SecretKey is shown'
err_has_str 'the new key keeps the old one'"'"'s expiry, 2099-01-01 00:00:00'
ROT=$(printf '%s\n' "$OUT" | sed -n 's/^SecretId: *//p')
ROTSK=$(printf '%s\n' "$OUT" | sed -n 's/^SecretKey: *//p')
SECRETS="$SECRETS $ROTSK"
expect_exit_in "$ROTSK" 0 lk verify "$ROT"
expect_exit 0 lk --json audit --key "$SID"
printf '%s\n' "$OUT" | grep -q "\"Action\":\"key\.rotate\",\"Target\":\"$SID\",\"Uin\":101,[^}]*\"Caller\":{\"Uin\":101,\"SecretId\":\"$SID\"" ||
    fail "the audit log lacks the rotation by caller 101: $OUT"
# rotated again while its successor exists: refused, as locally
expect_exit 2 remote key rotate "$SID" --grace 1h
err_has_str 'is already being rotated out'
# the sub-user keeps its first pair: the new one goes, the old one's expiry back to never
expect_exit 0 remote key disable "$ROT"
expect_exit 0 remote key delete "$ROT"
expect_exit 0 remote --json key edit "$SID" --expires never
json_ok
expect_exit 0 lk key show "$SID"
out_has '^ExpireTime: *-$'
# refused on its root's key, and the store unchanged
expect_exit 1 remote key show "$ROOTKEY"
expect_error 'OperationDenied\.SubUin'
expect_exit 1 remote key edit "$ROOTKEY" --uin 100 --expires 1d
expect_error 'OperationDenied\.SubUin'
expect_exit 1 remote key rotate "$ROOTKEY" --uin 100 --grace 1h
expect_error 'OperationDenied\.SubUin'
expect_exit 1 remote key rotate "$ROOTKEY" --grace 1h
expect_error 'OperationDenied\.UinNotMatch'
expect_exit 0 lk key list 100
out_has "^$ROOTKEY  *Active  .*  -\$"
[ "$(printf '%s\n' "$OUT" | grep -c '^AKID')" = 1 ] || fail "a refused rotation changed the root's keys: $OUT"

# ---- the root account: its members' keys and its API keys
root() { remote --credentials "$WORK/rootcred" "$@"; }
expect_exit 0 root key list 101
out_has_str "$SID"
expect_exit 0 root apikey create 100 --name ci --description 'CI runner' --scope svc.a,svc.b \
    --allow-ip 10.0.0.0/8 --rate-limit 10/1s --expires 30d
out_matches_ere '^ApiKey: +lk-[0-9A-Za-z]{54}$'
err_has_str 'this is the only time the API key is shown'
AK=$(printf '%s\n' "$OUT" | sed -n 's/^ApiKey: *//p')
AKID=$(printf '%s\n' "$OUT" | sed -n 's/^KeyId: *//p')
SECRETS="$SECRETS $AK"
out_has '^Scope: *svc.a,svc.b$'
out_has '^AllowIp: *10.0.0.0/8$'
out_has '^RateLimit: *10/1s$'
expect_exit_in "$AK" 0 lk verify --apikey --ip 10.1.2.3 --service svc.a
expect_exit 0 root apikey show "$AKID"
out_has "^KeyId: *$AKID\$"
out_has '^Name: *ci$'
out_has '^Scope: *svc.a,svc.b$'
json_as_locally root apikey show "$AKID"
expect_exit 0 root --json apikey show --account 100 --name ci
[ "$(no_request_id)" = "$REMOTE_JSON" ] || fail "apikey show --name differs from show ID: $OUT"
expect_exit 1 root apikey show --account 100 --name nope
expect_error 'InvalidParameter\.AccessKeyNotExist'
expect_exit 3 remote apikey show "$AKID"
expect_error 'AuthFailure\.UnauthorizedOperation'
expect_exit 0 root apikey edit "$AKID" --description 'CI, second runner' --scope all
out_has_str "Updated API key $AKID."
expect_exit 0 root apikey edit "$AKID" --expires 2097-01-01 --rate-limit 5/1m
expect_exit 0 lk apikey show "$AKID"
out_has '^ExpireTime: *2097-01-01 00:00:00 +0000$'
out_has '^RateLimit: *5/60s$'
expect_exit 0 root apikey edit "$AKID" --expires never --rate-limit none
expect_exit 0 lk apikey show "$AKID"
out_has '^ExpireTime: *-$'
out_has '^RateLimit: *-$'
# the account's API keys are its root's: a sub-user's expiry and limit are refused, nothing changed
expect_exit 3 remote apikey edit "$AKID" --expires 2097-01-01 --rate-limit 5/1m --reason mine
expect_error 'AuthFailure\.UnauthorizedOperation'
expect_exit 0 lk apikey show "$AKID"
out_has '^ExpireTime: *-$'
out_has '^RateLimit: *-$'
expect_exit 2 root apikey edit "$AKID" --expires 2001-01-01
err_has_str '--expires'
expect_exit 0 root apikey disable "$AKID"
expect_exit 0 root --json apikey list 100
json_ok
REMOTE_JSON=$(no_request_id)
out_has_str '"Description":"CI, second runner"'
out_has_str '"Scope":"all"'
out_has_str '"Status":"Inactive"'
local_json_is apikey list 100
expect_exit 0 root apikey delete "$AKID"
out_has_str "Deleted API key $AKID."
expect_exit 0 lk apikey list 100
out_lacks_str "$AKID"
# reroll: a new value, the old one working for the grace period
expect_exit 0 root apikey create 100 --name roll
RID=$(printf '%s\n' "$OUT" | sed -n 's/^KeyId: *//p')
SECRETS="$SECRETS $(printf '%s\n' "$OUT" | sed -n 's/^ApiKey: *//p')"
expect_exit 3 remote apikey reroll "$RID" --grace 1h
expect_error 'AuthFailure\.UnauthorizedOperation'
expect_exit 0 root apikey reroll "$RID" --grace 1h --expires 2098-01-01
out_matches_ere '^ApiKey: +lk-[0-9A-Za-z]{54}$'
out_has '^Name: *roll$'
out_has '^ExpireTime: *2098-01-01 00:00:00 +0000$'
out_has "^RerolledKeyId: *$RID\$"
out_matches_ere '^RerolledExpireTime: +20[0-9-]{8} [0-9:]{8} [+]0000$'
err_has_str 'this is the only time the API key is shown'
RV=$(printf '%s\n' "$OUT" | sed -n 's/^ApiKey: *//p')
SECRETS="$SECRETS $RV"
expect_exit_in "$RV" 0 lk verify --apikey
expect_exit 0 lk --json audit --key "$RID"
printf '%s\n' "$OUT" | grep -q "\"Action\":\"apikey\.reroll\",\"Target\":\"$RID\",[^}]*\"Caller\":{\"Uin\":100,\"SecretId\":\"$ROOTKEY\"" ||
    fail "the audit log lacks the reroll by caller 100: $OUT"
expect_exit 2 root apikey reroll "$RID" --grace 1h
err_has_str 'is already being rotated out'
RID2=$(printf '%s\n' "$RV" | cut -c1-15)
expect_exit 0 root --json apikey reroll "$RID2" --grace 1s
json_ok
out_has_str "\"RerolledApiKey\":{\"KeyId\":\"$RID2\","
SECRETS="$SECRETS $(jget ApiKey)"
# an API key's access records: the verification above, under its id
expect_exit 0 root records "$RID2"
out_has '^LastAccessTime: '
out_has 'Success'
json_as_locally root records "$RID2"
expect_exit 3 remote records "$RID2"
expect_error 'AuthFailure\.UnauthorizedOperation'

# ---- a member's self-service grant, through UpdateUser: its root account only
expect_exit 0 root user edit 102 --self-service read
out_has '^Uin: *102$'
out_has '^Kind: *sub-user$'
out_has '^RootUin: *100$'
out_has '^SelfService: *read$'
expect_exit 0 lk user show 102
out_has '^SelfService: *read$'
expect_exit 0 root --json user edit 102 --self-service manage
json_ok
out_has_str '"SelfService":"manage"'
REMOTE_JSON=$(no_request_id)
local_json_is user show 102
expect_exit 0 lk --json audit --user 102
out_has_str '"Fields":"self-service read → manage"'
printf '%s\n' "$OUT" | grep -q "\"Action\":\"user\.edit\",\"Target\":\"102\",[^}]*\"Caller\":{\"Uin\":100,\"SecretId\":\"$ROOTKEY\"" ||
    fail "the audit log lacks the grant by caller 100: $OUT"
expect_exit 0 lk user edit 102 --self-service none
# refused: the sub-user itself (even granted manage), the root on itself, a bad grant; nothing changed
expect_exit 3 remote user edit 102 --self-service manage
expect_error 'AuthFailure\.UnauthorizedOperation'
expect_exit 3 remote user edit 101 --self-service none
expect_error 'AuthFailure\.UnauthorizedOperation'
expect_exit 2 root user edit 100 --self-service read
expect_error 'InvalidParameter\.ParamError'
err_has_str 'TargetUin 100 is a root account'
expect_exit 1 root user edit 999 --self-service read
expect_error 'InvalidParameter\.UserNotExist'
expect_exit 2 root user edit 102 --self-service all
err_has_str "--self-service 'all'"
expect_exit 2 root user edit 102 --login carol
err_has_str 'option --login'
expect_exit 0 lk --json user list
out_has_str '"Uin":101,"Kind":"sub-user","RootUin":100,"Login":"","SelfService":"manage"'
out_has_str '"Uin":102,"Kind":"sub-user","RootUin":100,"Login":"","SelfService":"none"'

# ---- no created secret left in freed heap memory (plain HTTP)
heap_clean --credentials "$WORK/rootcred" key create 102
heap_clean --credentials "$WORK/rootcred" --json key create 102
heap_clean --credentials "$WORK/rootcred" apikey create 100 --name heap1
heap_clean --credentials "$WORK/rootcred" --json apikey create 100 --name heap2
expect_exit 0 root apikey create 100 --name heap-reroll
HR=$(printf '%s\n' "$OUT" | sed -n 's/^KeyId: *//p')
SECRETS="$SECRETS $(printf '%s\n' "$OUT" | sed -n 's/^ApiKey: *//p')"
heap_clean --credentials "$WORK/rootcred" apikey reroll "$HR" --grace 1h
heap_clean --credentials "$WORK/rootcred" key rotate "$ROOTKEY" --grace 1h # the root's pair works for an hour more

# ---- other ways to give the credentials
mv "$CRED" "$WORK/cred"
expect_exit 4 remote key list 101
expect_error 'InvalidParameter\.Config'
err_has_str 'LATCHKEY_SECRET_ID and LATCHKEY_SECRET_KEY'
expect_exit 0 remote --credentials "$WORK/cred" key list 101
out_has_str "$SID"
run env LATCHKEY_ENDPOINT="$URL" LATCHKEY_SECRET_ID="$SID" LATCHKEY_SECRET_KEY="$SK" HOME="$HOMEDIR" \
    "$LATCHKEY" key list 101
[ "$RC" = 0 ] || fail "LATCHKEY_ENDPOINT with the pair in the environment: exit $RC"
out_has_str "$SID"
run env LATCHKEY_SECRET_ID="$SID" HOME="$HOMEDIR" "$LATCHKEY" --endpoint "$URL" key list 101
[ "$RC" = 4 ] || fail "LATCHKEY_SECRET_ID alone: exit $RC"
expect_error 'InvalidParameter\.Config'
err_has_str 'LATCHKEY_SECRET_KEY is not'

# a credentials file others may read: refused before anything is sent, as ssh refuses a loose key
chmod 644 "$WORK/cred"
expect_exit 4 remote --credentials "$WORK/cred" key list 101
expect_error 'InvalidParameter\.Config'
err_has_str 'open to group or others (mode 0644)'
err_has_str 'chmod 600'
err_lacks_str "$SK"
chmod 600 "$WORK/cred"
printf 'secret_id = %s\nsecret_key = %s\nregion = x\n' "$SID" "$SK" >"$WORK/cred2"
chmod 600 "$WORK/cred2"
expect_exit 4 remote --credentials "$WORK/cred2" key list 101
err_has 'line 3: expected secret_id'
err_lacks_str "$SK"

# a wrong secret: the service refuses the caller (AuthFailure, exit 3), and says nothing of the secret
WRONG=$(printf '%s' "$NEWSK")
printf 'secret_id = %s\nsecret_key = %s\n' "$SID" "$WRONG" >"$WORK/wrong"
chmod 600 "$WORK/wrong"
expect_exit 3 remote --credentials "$WORK/wrong" key list 101
expect_error 'AuthFailure\.SignatureFailure'
err_lacks_str "$WRONG"

# ---- what the API does not carry, refused up front
mv "$WORK/cred" "$CRED"
expect_exit 2 remote user list
err_has_str "'user list' is not available with --endpoint"
expect_exit 2 remote user edit 102 --no-login
err_has_str 'option --no-login'

# ---- key create --expires and --reason are carried (ExpireTime, Reason)
expect_exit 0 remote key create 101 --expires 2097-01-01 --reason 'CI runner'
out_has '^ExpireTime: *2097-01-01 00:00:00 +0000$'
EXP=$(printf '%s\n' "$OUT" | sed -n 's/^SecretId: *//p')
EXPK=$(printf '%s\n' "$OUT" | sed -n 's/^SecretKey: *//p')
SECRETS="$SECRETS $EXPK"
# a secret pasted into a reason never leaves the tool, nor reaches the log
expect_exit 2 remote key disable "$EXP" --reason "leaked: $EXPK"
err_has_str 'a secret is never written to the audit log'
err_lacks_str "$EXPK"
expect_exit 0 remote key disable "$EXP" --reason leaked
expect_exit 0 remote key delete "$EXP"
expect_exit 0 lk --json audit --key "$EXP"
out_has_str '"Action":"key.create","Target":"'"$EXP"'","Uin":101,"Fields":"expiry 2097-01-01 00:00:00 +0000","Reason":"CI runner","Caller":{"Uin":101,'
out_has_str '"Action":"key.disable","Target":"'"$EXP"'","Uin":101,"Fields":"status Active → Inactive","Reason":"leaked","Caller":{"Uin":101,'
out_has_str '"Action":"key.delete","Target":"'"$EXP"'","Uin":101,"Fields":"","Reason":"","Caller":{"Uin":101,'
expect_exit 2 remote key create 101 --expires 2001-01-01
err_has_str '--expires'
# on its root's account, refused with them too: no key, no audit entry
expect_exit 0 lk key list 100
ROOTKEYS=$OUT
expect_exit 1 remote key create 100 --expires 2097-01-01 --reason 'CI runner'
expect_error 'OperationDenied\.SubUin'
expect_exit 0 lk key list 100
[ "$OUT" = "$ROOTKEYS" ] || fail "a refused create changed the root's keys: $OUT"
expect_exit 0 lk --json audit --user 100
out_lacks_str '"Reason":"CI runner"'
expect_exit 2 lk --cacert /dev/null key list 101
err_has_str '--cacert is for the management API'

# ---- endpoints that are no good
expect_exit 2 remote_at "http://192.0.2.1:$PORT" key list 101
err_has_str 'plain http:// is allowed only to a loopback address'
expect_exit 2 remote_at "ftp://127.0.0.1:$PORT" key list 101
err_has_str 'the scheme must be https://'
# nothing listens on port 1
expect_exit 5 remote_at "http://127.0.0.1:1" key list 101
err_has_str 'cannot reach the management API at http://127.0.0.1:1'
# plain HTTP spoken to a TLS client: a TLS error, not a hang
expect_exit 5 remote_at "https://127.0.0.1:$PORT" --cacert /dev/null key list 101
expect_error 'FailedOperation\.Storage'

stop_daemon

# ---- TLS, with a certificate made here for 127.0.0.1
for n in ca other; do
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/$n.key" -out "$WORK/$n.pem" -days 2 \
        -subj "/CN=latchkey test $n" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null ||
        fail "openssl could not make a certificate"
done
chmod 600 "$WORK/ca.key"
start_daemon "tls_cert: $WORK/ca.pem" "tls_key: $WORK/ca.key"
URL="https://127.0.0.1:$PORT"
expect_exit 0 remote --cacert "$WORK/ca.pem" key create 101
NEW=$(printf '%s\n' "$OUT" | sed -n 's/^SecretId: *//p')
SECRETS="$SECRETS $(printf '%s\n' "$OUT" | sed -n 's/^SecretKey: *//p')"
expect_exit 0 remote --cacert "$WORK/ca.pem" --json key list 101
json_ok
out_has_str "\"AccessKeyId\":\"$NEW\""
expect_exit 0 remote --cacert "$WORK/ca.pem" key disable "$NEW"
expect_exit 0 remote --cacert "$WORK/ca.pem" key delete "$NEW"
# no created secret left in freed heap memory (OpenSSL decrypts in place)
expect_exit 0 lk key list 102
for k in $(printf '%s\n' "$OUT" | grep -oE '^AKID[0-9A-Za-z]{32}'); do
    expect_exit 0 lk key disable "$k"
    expect_exit 0 lk key delete "$k"
done
heap_clean --cacert "$WORK/ca.pem" --credentials "$WORK/rootcred" key create 102
heap_clean --cacert "$WORK/ca.pem" --credentials "$WORK/rootcred" --json key create 102
heap_clean --cacert "$WORK/ca.pem" --credentials "$WORK/rootcred" --json apikey create 100 --name heap3
# the system store does not trust the test's CA, nor does another CA
expect_exit 5 remote key list 101
err_has_str "TLS with the management API at $URL failed"
expect_exit 5 remote --cacert "$WORK/other.pem" key list 101
err_has_str "TLS with the management API at $URL failed"
expect_exit 4 remote --cacert "$WORK/missing.pem" key list 101
err_has_str "CA file $WORK/missing.pem"
stop_daemon

# ---- no secret in latchkeyd's log
for s in $SECRETS; do
    ! grep -qF "$s" "$LOG" || fail "a secret is in latchkeyd's log"
done
note "ok"
