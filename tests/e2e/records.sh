#!/bin/sh
# Access records: after 25 attempts (successes and failures) `records` shows
# exactly the latest 20, newest first, failures included, and the last
# access time is set. Same for an API key.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

records() {
    expect_exit 0 lk user add 100001
    new_key 100001
    SID1=$SID
    SK1=$SK
    new_key 100001 # its SecretKey is a well-formed wrong secret for SID1
    WRONG=$SK

    # never used yet
    expect_exit 0 lk --json records "$SID1"
    json_ok
    out_has_str '"LastAccessTime":null,"Records":[]'
    expect_exit 0 lk key show "$SID1"
    out_has '^LastAccessTime: *-$'

    # attempt i uses service svc-i and address 10.0.0.i; every 4th is wrong
    i=1
    while [ $i -le 25 ]; do
        if [ $((i % 4)) -eq 0 ]; then
            expect_exit_in "$WRONG" 3 lk verify "$SID1" --service "svc-$i" --ip "10.0.0.$i"
        else
            expect_exit_in "$SK1" 0 lk verify "$SID1" --service "svc-$i" --ip "10.0.0.$i"
        fi
        i=$((i + 1))
    done

    expect_exit 0 lk --json records "$SID1"
    json_ok
    [ "$(jcount '"Time":')" -eq 20 ] || fail "records shows $(jcount '"Time":') entries, not 20"
    out_matches_ere "\"LastAccessTime\":\"$TIME_ERE\""
    # newest first: svc-25 down to svc-6, failures in place
    got=$(printf '%s\n' "$OUT" | grep -o '"Service":"[^"]*"' | sed 's/.*:"svc-//; s/"$//' | tr '\n' ' ')
    want="25 24 23 22 21 20 19 18 17 16 15 14 13 12 11 10 9 8 7 6 "
    [ "$got" = "$want" ] || fail "records order: got '$got', want '$want'"
    out_has_str '{"Time":'
    out_has_str '"ClientIp":"10.0.0.24","Service":"svc-24","Result":"AuthFailure.SignatureFailure"}'
    out_has_str '"ClientIp":"10.0.0.25","Service":"svc-25","Result":"Success"}'
    [ "$(jcount '"Result":"AuthFailure.SignatureFailure"')" -eq 5 ] || fail "expected 5 failures (24,20,16,12,8)"
    out_lacks_str '"Service":"svc-5"'
    out_lacks_str "$SK1"
    out_lacks_str "$WRONG"

    # table: LastAccessTime line, header, 20 rows
    expect_exit 0 lk records "$SID1"
    out_has '^LastAccessTime: *[0-9]\{4\}-'
    out_has '^Time  *ClientIp  *Service  *Result$'
    rows=$(printf '%s\n' "$OUT" | grep -c '^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9] ')
    [ "$rows" -eq 20 ] || fail "records table has $rows rows, not 20"
    first=$(printf '%s\n' "$OUT" | sed -n 3p)
    case $first in *svc-25*Success) ;; *) fail "first row is not the newest attempt: '$first'" ;; esac
    out_has 'svc-24  *AuthFailure\.SignatureFailure$'

    # last access time shows in key show and key list
    expect_exit 0 lk key show "$SID1"
    out_has '^LastAccessTime: *[0-9]\{4\}-'
    expect_exit 0 lk --json key list 100001
    out_matches_ere "\"AccessKeyId\":\"$SID1\",\"Status\":\"Active\",\"CreateTime\":\"$TIME_ERE\",\"LastAccessTime\":\"$TIME_ERE\""

    # a disabled key's denials are recorded too
    expect_exit 0 lk key disable "$SID1"
    expect_exit_in "$SK1" 3 lk verify "$SID1" --service svc-26
    expect_exit 0 lk --json records "$SID1"
    out_has_str '"Service":"svc-26","Result":"AuthFailure.SecretIdDisabled"}'
    [ "$(jcount '"Time":')" -eq 20 ] || fail "records no longer capped at 20"

    # the other key was never used
    expect_exit 0 lk --json records "$SID"
    out_has_str '"Records":[]'

    # API key records, by key id
    new_apikey 100001 rec --allow-ip 10.0.0.0/8
    expect_exit_in "$AK" 0 lk verify --apikey --ip 10.9.9.9 --service chat
    expect_exit_in "$AK" 3 lk verify --apikey --ip 192.168.0.1
    expect_exit 0 lk --json records "$AKID"
    json_ok
    [ "$(jcount '"Time":')" -eq 2 ] || fail "API key records: expected 2"
    out_has_str '"ClientIp":"192.168.0.1","Service":null,"Result":"AuthFailure.IpNotAllowed"}'
    out_has_str '"ClientIp":"10.9.9.9","Service":"chat","Result":"Success"}'
    out_lacks_str "$AK"

    # a deleted key has no records; a malformed id is a usage error
    expect_exit 0 lk key disable "$SID1"
    expect_exit 0 lk key delete "$SID1"
    expect_exit 1 lk records "$SID1"
    expect_error 'InvalidParameter\.AccessKeyNotExist'
    expect_exit 2 lk records AKIDnotakeyatall
    expect_error 'InvalidParameter\.ParamError'
}

# "Every attempt on a known key records an access record" (latchkey.h):
# a malformed (truncated) SecretKey sent with a known, well-formed SecretId
# is such an attempt.
# Kept apart so the checks above run on every backend first.
records_malformed() {
    expect_exit 0 lk user add 100001
    new_key 100001
    expect_exit_in "${SK%?????}" 3 lk verify "$SID" --service truncated
    expect_error 'AuthFailure\.SignatureFailure'
    expect_exit 0 lk --json records "$SID"
    out_has_str '"Service":"truncated","Result":"AuthFailure.SignatureFailure"}'
}

for_each_backend records
for_each_backend records_malformed
