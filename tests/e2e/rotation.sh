#!/bin/sh
# Rotation and reroll limits through the tool (issue 19, findings 3 and 10;
# issue 23's expiry carry-over): the account limit + 1 during a grace, no
# second rotation of a key already rolled out, no rotation of a revoked key
# without --force, the old key's expiry carried over and said so, and an
# --expires date that is not in the future refused (1970-01-01 meant never).
# Nothing here waits on the clock.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

rotation() {
    setup_store "$1" 'limits: {apikeys_per_account: 3}'
    expect_exit 0 lk user add 100001
    expect_exit 0 lk user add 100002

    # ---- --expires: a date not in the future is refused, naming the option
    for d in 1970-01-01 1970-01-01T00:00:00Z 2001-01-01; do
        expect_exit 2 lk key create 100002 --expires "$d"
        expect_error 'InvalidParameter\.ParamError'
        err_has_str "--expires: '$d' is not in the future"
        expect_exit 2 lk apikey create 100001 --name past --expires "$d"
        err_has_str "--expires: '$d' is not in the future"
    done
    expect_exit 0 lk --json key list 100002
    out_has_str '"TotalCount":0'
    new_key 100002
    expect_exit 2 lk key edit "$SID" --expires 1970-01-01
    err_has_str "--expires: '1970-01-01' is not in the future"
    expect_exit 0 lk --json key show "$SID"
    out_has_str '"ExpireTime":null'
    # a --since date may lie in the past: it is no expiry
    expect_exit 0 lk audit --since 1970-01-01

    # ---- rerolls: five of one key at a limit of 3 leave 4 keys, two named alike
    for n in a b c; do new_apikey 100001 "$n"; done
    AKID_A=$(lk --json apikey show --account 100001 --name a | grep -o '"KeyId":"[^"]*"' | sed 's/.*:"//; s/"$//')
    expect_exit 0 lk --json apikey reroll "$AKID_A" --grace 1h
    AKID_A2=$(jget KeyId)
    for i in 2 3 4 5; do
        expect_exit 2 lk apikey reroll "$AKID_A" --grace 1h
        err_has_str "is already being rotated out: its successor $AKID_A2 exists"
    done
    expect_exit 1 lk apikey reroll "$AKID_A2" --grace 1h
    expect_error 'OperationDenied\.ApiKeyOverLimit'
    err_has 'one over its limit (3)'
    expect_exit 0 lk --json apikey list 100001
    out_has_str '"TotalCount":4'
    [ "$(jcount '"Name":"a"')" = 2 ] || fail "more than the rolled-out key and its successor are named a"

    # ---- the old key's expiry is carried over, and said so
    expect_exit 0 lk --json key create 100001 --expires 2099-06-30
    SID_X=$(jget AccessKeyId)
    expect_exit 0 lk key rotate "$SID_X" --grace 1h
    out_has '^ExpireTime: *2099-06-30 00:00:00 +0000$'
    err_has_str "the new key keeps the old one's expiry, 2099-06-30 00:00:00 +0000 "
    SID_Y=$(printf '%s\n' "$OUT" | sed -n 's/^SecretId: *//p')
    expect_exit 2 lk key rotate "$SID_X" --grace 1h
    err_has_str "its successor $SID_Y exists"
    expect_exit 0 lk --json audit --key "$SID_Y"
    out_has_str "\"Fields\":\"rotated from $SID_X; expiry 2099-06-30 00:00:00 +0000 (carried over)\""

    # ---- revoke --user: no rotation hands out a working key again, unless --force
    expect_exit 0 lk revoke --user 100001 --reason incident-7
    expect_exit 2 lk key rotate "$SID_Y" --grace 1h
    err_has_str "was disabled by 'revoke --user' at"
    AKID_B=$(lk --json apikey show --account 100001 --name b | grep -o '"KeyId":"[^"]*"' | sed 's/.*:"//; s/"$//')
    expect_exit 2 lk apikey reroll "$AKID_B" --grace 1h
    err_has_str "was disabled by 'revoke --user' at"
    expect_exit 0 lk apikey delete "$AKID_A" # room for one more
    expect_exit 0 lk --json apikey reroll "$AKID_B" --grace 1h --force --expires never --reason 'incident-7 closed'
    json_ok
    AK_B2=$(jget ApiKey)
    expect_exit_in "$AK_B2" 0 lk verify --apikey
    expect_exit 0 lk --json audit --key "$AKID_B"
    out_has_str 'rerolled although revoked (--force)'
    out_has_str '"Reason":"incident-7 closed"'
    # an enable by hand ends the revoke
    expect_exit 0 lk key enable "$SID_Y"
    expect_exit 1 lk key rotate "$SID_Y" --grace 1h # now only the pair limit (2) stands in the way
    expect_error 'OperationDenied\.AccessKeyOverLimit'
}

for _b in $LK_E2E_BACKENDS; do
    rotation "$_b"
    note ok
done
