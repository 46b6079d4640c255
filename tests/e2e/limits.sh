#!/bin/sh
# Limits: 2 access keys per user, 50 API keys per root account (defaults),
# a configured limit, and keys for users that do not exist.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

limits() {
    expect_exit 0 lk user add 100001

    # access keys: the third is refused, nothing is created
    new_key 100001
    new_key 100001
    expect_exit 1 lk key create 100001
    expect_error 'OperationDenied\.AccessKeyOverLimit'
    [ -z "$OUT" ] || fail "a refused create printed something on stdout"
    expect_exit 1 lk --json key create 100001
    json_error 'OperationDenied\.AccessKeyOverLimit'
    out_lacks_str SecretAccessKey
    expect_exit 0 lk --json key list 100001
    out_has_str '"TotalCount":2'
    # a disabled key still counts
    expect_exit 0 lk key disable "$SID"
    expect_exit 1 lk key create 100001
    expect_error 'OperationDenied\.AccessKeyOverLimit'
    # deleting one frees a slot
    expect_exit 0 lk key delete "$SID"
    new_key 100001

    # unknown user
    expect_exit 1 lk key create 424242
    expect_error 'InvalidParameter\.UserNotExist'
    expect_exit 1 lk --json key create 424242
    json_error 'InvalidParameter\.UserNotExist'
    expect_exit 1 lk apikey create 424242 --name x
    expect_error 'InvalidParameter\.UserNotExist'

    # API keys: 50 fit, the 51st is refused
    i=1
    while [ $i -le 50 ]; do
        run lk apikey create 100001 --name "key-$i"
        [ "$RC" = 0 ] || fail "API key $i of 50 refused"
        i=$((i + 1))
    done
    expect_exit 1 lk apikey create 100001 --name key-51
    expect_error 'OperationDenied\.ApiKeyOverLimit'
    expect_exit 1 lk --json apikey create 100001 --name key-51
    json_error 'OperationDenied\.ApiKeyOverLimit'
    out_lacks_str '"ApiKey":"lk-'
    expect_exit 0 lk --json apikey list 100001
    out_has_str '"TotalCount":50'
    [ "$(jcount '"KeyId":')" -eq 50 ] || fail "apikey list does not show 50 keys"
    expect_exit 0 lk apikey list 100001
    [ "$(printf '%s\n' "$OUT" | wc -l)" -eq 51 ] || fail "apikey list table is not header + 50 rows"
    out_lacks_str key-51
    # the limit is per account: another root still can
    expect_exit 0 lk user add 100002
    new_apikey 100002 key-51

    # a configured limit (limits.keys_per_user) replaces the default
    setup_store "$BACKEND" 'limits: {keys_per_user: 3, apikeys_per_account: 1}'
    expect_exit 0 lk user add 7
    new_key 7
    new_key 7
    new_key 7
    expect_exit 1 lk key create 7
    expect_error 'OperationDenied\.AccessKeyOverLimit'
    new_apikey 7 only
    expect_exit 1 lk apikey create 7 --name second
    expect_error 'OperationDenied\.ApiKeyOverLimit'
}

for_each_backend limits
