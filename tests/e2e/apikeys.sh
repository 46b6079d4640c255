#!/bin/sh
# API keys: scope, IP allowlist (v4 and v6), masked display, immutable name,
# edit, enable/disable/delete, unique names, root accounts only.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

# verify_api KEY EXIT [OPTIONS...]
verify_api() {
    _key=$1
    _want=$2
    shift 2
    expect_exit_in "$_key" "$_want" lk verify --apikey "$@"
}

apikeys() {
    expect_exit 0 lk user add 100001
    expect_exit 0 lk user add 100002 --kind sub-user --root 100001

    # create: the full key once, in the documented shape
    expect_exit 0 lk --json apikey create 100001 --name prod-text --description 'text service, prod' \
        --scope svc-a,svc-b --allow-ip 10.0.0.0/8,2001:db8::/32
    json_ok
    out_matches_ere "^\\{\"Response\":\\{\"ApiKey\":\\{\"KeyId\":\"lk-[0-9A-Za-z]{12}\",\"Name\":\"prod-text\",\"Description\":\"text service, prod\",\"ApiKey\":\"lk-[0-9A-Za-z]{54}\",\"MaskedKey\":\"lk-[0-9A-Za-z]{2}\\*\\*\\*[0-9A-Za-z]{4}\",\"Status\":\"Active\",\"Scope\":\\[\"svc-a\",\"svc-b\"\\],\"AllowIp\":\\[\"10.0.0.0/8\",\"2001:db8::/32\"\\],"
    out_matches_ere "\"CreateTime\":\"$TIME_ERE\""
    AKID=$(jget KeyId)
    AK=$(jget ApiKey)
    MASK=$(jget MaskedKey)
    [ "${AK#"$AKID"}" != "$AK" ] || fail "API key does not start with its id"
    want_mask="$(printf %s "$AK" | cut -c1-5)***$(printf %s "$AK" | cut -c54-57)"
    [ "$MASK" = "$want_mask" ] || fail "masked key '$MASK', expected '$want_mask'"

    # table mode create shows the key once and warns on stderr
    expect_exit 0 lk apikey create 100001 --name open
    out_has '^ApiKey: *lk-[0-9A-Za-z]\{54\}$'
    out_has '^Scope: *all$'
    out_has '^AllowIp: *any$'
    err_has 'only time'
    OPEN_AK=$(printf '%s\n' "$OUT" | sed -n 's/^ApiKey: *//p')

    # scope and allowlist
    verify_api "$AK" 0 --service svc-a --ip 10.1.2.3
    out_has '^Result: *Allow$'
    out_has '^Uin: *100001$'
    out_has_str "$AKID"
    verify_api "$AK" 0 --service svc-b --ip 10.255.255.255
    # refused before the secret is checked: a wrong secret's answer, so a
    # caller that has not proven the key learns nothing of its rules; the
    # access records keep the reason (issue 19)
    verify_api "$AK" 3 --service svc-c --ip 10.1.2.3
    expect_error 'AuthFailure\.SignatureFailure'
    err_lacks_str 'scope'
    verify_api "$AK" 3 --service svc-a --ip 192.168.1.1
    expect_error 'AuthFailure\.SignatureFailure'
    err_lacks_str 'allowlist'
    verify_api "$AK" 3 --service svc-a --ip 11.0.0.1
    expect_error 'AuthFailure\.SignatureFailure'
    verify_api "$AK" 0 --service svc-a --ip 2001:db8:1234::5
    verify_api "$AK" 3 --service svc-a --ip 2001:db9::1
    expect_error 'AuthFailure\.SignatureFailure'
    # an allowlist denies a caller whose address is unknown
    verify_api "$AK" 3 --service svc-a
    expect_error 'AuthFailure\.SignatureFailure'
    expect_exit_in "$AK" 3 lk --json verify --apikey --service svc-c --ip 10.1.2.3
    json_error 'AuthFailure\.SignatureFailure'
    out_lacks_str "$AK"
    expect_exit 0 lk records "$AKID"
    out_has '10\.1\.2\.3  *svc-c  *AuthFailure\.UnauthorizedOperation$'
    out_has '192\.168\.1\.1  *svc-a  *AuthFailure\.IpNotAllowed$'
    out_has '2001:db9::1  *svc-a  *AuthFailure\.IpNotAllowed$'
    # no scope, no allowlist: anything goes
    verify_api "$OPEN_AK" 0 --service whatever --ip 192.168.1.1
    verify_api "$OPEN_AK" 0

    # list and show: masked key only
    expect_exit 0 lk apikey list 100001
    out_has '^KeyId  *Name  *Status  *Scope  *ExpireTime  *RateLimit$'
    expect_exit 0 lk apikey list 100001 --wide
    out_has '^KeyId  *Name  *Key  *Status  *Scope  *AllowIp  *CreateTime  *LastAccessTime  *ExpireTime  *RateLimit$'
    out_has_str "$MASK"
    out_has_str 'svc-a,svc-b'
    out_has_str '10.0.0.0/8,2001:db8::/32'
    out_lacks_str "$AK"
    out_lacks_str "$OPEN_AK"
    expect_exit 0 lk --json apikey list 100001
    json_ok
    out_has_str '"TotalCount":2'
    out_lacks_str '"ApiKey":"'
    out_lacks_str "$AK"
    expect_exit 0 lk apikey show "$AKID"
    out_has "^MaskedKey: *$(printf %s "$MASK" | sed 's/\*/\\*/g')\$"
    out_has '^Description: *text service, prod$'
    out_lacks_str "$AK"
    expect_exit 0 lk --json apikey show --account 100001 --name prod-text
    json_ok
    out_has_str "\"KeyId\":\"$AKID\""
    out_lacks_str '"ApiKey":"'
    expect_exit 1 lk apikey show --account 100001 --name nope
    expect_exit 2 lk apikey show "$AKID" --account 100001 --name prod-text
    expect_exit 2 lk apikey show --account 100001

    # the name is immutable: edit has no --name
    expect_exit 2 lk apikey edit "$AKID" --name renamed
    err_has 'name'
    expect_exit 2 lk --json apikey edit "$AKID" --name renamed
    json_error 'InvalidParameter\.ParamError'
    expect_exit 2 lk apikey edit "$AKID"
    expect_exit 0 lk --json apikey show "$AKID"
    out_has_str '"Name":"prod-text"'

    # edit: scope to all, then svc-c is allowed; description changes
    expect_exit 0 lk apikey edit "$AKID" --scope all --description 'now everything'
    verify_api "$AK" 0 --service svc-c --ip 10.1.2.3
    expect_exit 0 lk --json apikey show "$AKID"
    out_has_str '"Scope":"all"'
    out_has_str '"Description":"now everything"'
    out_has_str '"Name":"prod-text"'
    # the key value did not change: still the same masked key
    out_has_str "\"MaskedKey\":\"$MASK\""
    # allowlist removed with "none"
    expect_exit 0 lk --json apikey edit "$AKID" --allow-ip none
    json_ok
    verify_api "$AK" 0 --service svc-c --ip 192.168.1.1
    # and back to a v6-only list
    expect_exit 0 lk apikey edit "$AKID" --allow-ip 2001:db8::/32
    verify_api "$AK" 3 --ip 10.1.2.3
    verify_api "$AK" 0 --ip 2001:db8::1
    # bad values are refused by the library, the key is unchanged
    run lk apikey edit "$AKID" --allow-ip 10.0.0.0/33
    [ "$RC" != 0 ] || fail "allowlist 10.0.0.0/33 accepted"
    run lk apikey edit "$AKID" --scope 'bad service'
    [ "$RC" != 0 ] || fail "scope 'bad service' accepted"
    verify_api "$AK" 0 --service any --ip 2001:db8::1

    # duplicate name
    expect_exit 1 lk apikey create 100001 --name prod-text
    expect_error 'InvalidParameter\.ApiKeyNameExist'
    expect_exit 1 lk apikey create 100001 --name open
    # name required
    expect_exit 2 lk apikey create 100001
    err_has 'name'

    # only root accounts
    expect_exit 1 lk apikey create 100002 --name sub
    expect_error 'OperationDenied\.SubUin'

    # disable → denied; delete while enabled refused; disable + delete
    expect_exit 0 lk apikey disable "$AKID"
    verify_api "$AK" 3 --ip 2001:db8::1
    expect_error 'AuthFailure\.SignatureFailure'
    expect_exit 0 lk apikey enable "$AKID"
    verify_api "$AK" 0 --ip 2001:db8::1
    expect_exit 1 lk apikey delete "$AKID"
    expect_error 'FailedOperation\.Accesskey'
    expect_exit 0 lk apikey disable "$AKID"
    expect_exit 0 lk --json apikey delete "$AKID"
    json_ok
    verify_api "$AK" 3 --ip 2001:db8::1
    expect_error 'AuthFailure\.SecretIdNotFound'
    expect_exit 1 lk apikey show "$AKID"
    expect_exit 0 lk apikey list 100001
    out_lacks_str "$AKID"
    # the freed name can be used again
    new_apikey 100001 prod-text
}

for_each_backend apikeys
