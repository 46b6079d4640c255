#!/bin/sh
# Key lifecycle through the tool: expiry (--expires, key edit, expiring),
# rotation with a grace period (key rotate, apikey reroll), revoke --user,
# and scan for leaked credentials. Time rules run on an injected clock:
# every `lk` runs under libfaketime with the wall clock frozen at $FAKE_NOW,
# so the setup, however slow (valgrind; load average 10 and more: issue 19
# in tests/RELIABILITY.md), sees no time pass, and "after the expiries" is
# one step of that clock, not a sleep. The monotonic clock (the record
# flusher's deadlines) runs as ever.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

FAKETIME_LIB=
for _d in /usr/lib/*/faketime /usr/lib/faketime /usr/local/lib/faketime; do
    [ -f "$_d/libfaketime.so.1" ] && FAKETIME_LIB=$_d/libfaketime.so.1 && break
done
[ -n "$FAKETIME_LIB" ] || skip "libfaketime is not installed (Debian: apt-get install faketime)"

# The short expiries and grace periods, in seconds of the injected clock.
SPAN=10
T_START=$(date +%s)
at_time() { FAKE_NOW=$(date -u -d "@$1" '+%Y-%m-%d %H:%M:%S'); }
at_time "$T_START"
# libfaketime keeps a semaphore and a shared memory object named in
# FAKETIME_SHARED. Left to itself, each faked process makes its own: the
# libtool wrapper's shell made one, a subshell it forked removed it on exit,
# and the binary it exec'd then failed "sem_open failed and recreation
# attempts failed" (CI, issue 19; and every run leaked a pair in /dev/shm).
# So one holder owns them for the whole test: the faketime tool makes the
# pair, runs a sleeping child, and removes the pair when that child ends.
FT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lk-ft.XXXXXX")
faketime '2000-01-01 00:00:00' sh -c \
    'printf "%s\n" "$FAKETIME_SHARED" >"$1/shared.tmp" && echo $$ >"$1/pid" &&
     mv "$1/shared.tmp" "$1/shared" && exec sleep 100000' holder "$FT_DIR" \
    </dev/null >/dev/null 2>&1 &
FT_TOOL_PID=$!
keylife_cleanup() {
    # End the child, not the tool: the tool then removes the pair.
    [ -s "$FT_DIR/pid" ] && kill "$(cat "$FT_DIR/pid")" 2>/dev/null || :
    wait "$FT_TOOL_PID" 2>/dev/null || :
    rm -rf "$FT_DIR"
    cleanup
}
trap keylife_cleanup EXIT
# An event, not a time: the holder writes the names once the pair exists.
while [ ! -s "$FT_DIR/shared" ]; do
    kill -0 "$FT_TOOL_PID" 2>/dev/null || fail "the faketime holder did not start"
    sleep 0.05
done
FAKETIME_SHARED=$(cat "$FT_DIR/shared")
[ -n "$FAKETIME_SHARED" ] || fail "the faketime tool set no FAKETIME_SHARED"

# ASan must come first in the library list; libfaketime only wraps libc's
# time functions, which ASan does not.
# (Prefix assignments, not env: $LATCHKEY may be a wrapper function.)
lk() {
    LD_PRELOAD=$FAKETIME_LIB FAKETIME=$FAKE_NOW FAKETIME_DONT_FAKE_MONOTONIC=1 \
        FAKETIME_SHARED=$FAKETIME_SHARED \
        ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
        "$LATCHKEY" --config "$CFG" "$@"
}

keylife() {
    at_time "$T_START" # each backend's setup at the same instant
    expect_exit 0 lk user add 100001
    expect_exit 0 lk user add 200001 --kind sub-user --root 100001
    expect_exit 0 lk user add 100002

    # ---- keys that expire soon (checked once the clock has moved past them)
    expect_exit 0 lk --json key create 100001 --expires ${SPAN}s
    out_matches_ere "\"Status\":\"Active\",\"CreateTime\":\"$TIME_ERE\",\"ExpireTime\":\"$TIME_ERE\"\\},"
    # the injected clock took: the expiry is exactly SPAN after it
    out_has_str "\"ExpireTime\":\"$(date -u -d "@$((T_START + SPAN))" '+%Y-%m-%d %H:%M:%S')\""
    SID_E=$(jget AccessKeyId)
    SK_E=$(jget SecretAccessKey)
    new_key 200001
    SID_R=$SID SK_R=$SK
    expect_exit 0 lk --json key rotate "$SID_R" --grace ${SPAN}s
    json_ok
    SID_N=$(jget AccessKeyId)
    SK_N=$(jget SecretAccessKey)
    [ "$SID_N" != "$SID_R" ] || fail "rotate returned the old SecretId"
    out_matches_ere "\"RotatedAccessKey\":\\{\"AccessKeyId\":\"$SID_R\",\"ExpireTime\":\"$TIME_ERE\"\\}"
    new_apikey 100001 prod --scope svc-a --allow-ip 10.0.0.0/8
    AKID_OLD=$AKID AK_OLD=$AK
    expect_exit 0 lk --json apikey reroll "$AKID_OLD" --grace ${SPAN}s
    json_ok
    AKID_NEW=$(jget KeyId)
    AK_NEW=$(jget ApiKey)
    [ ${#AK_NEW} -eq 57 ] || fail "reroll did not print the new value"
    [ "$AKID_NEW" != "$AKID_OLD" ] || fail "reroll kept the id"
    out_has_str '"Name":"prod"'
    out_has_str '"Scope":["svc-a"]'
    out_has_str '"AllowIp":["10.0.0.0/8"]'
    out_has_str "\"RerolledApiKey\":{\"KeyId\":\"$AKID_OLD\",\"ExpireTime\":\""

    # during the grace period both work
    expect_exit_in "$SK_E" 0 lk verify "$SID_E"
    expect_exit_in "$SK_R" 0 lk verify "$SID_R"
    expect_exit_in "$SK_N" 0 lk verify "$SID_N"
    expect_exit_in "$AK_OLD" 0 lk verify --apikey --ip 10.1.1.1 --service svc-a
    expect_exit_in "$AK_NEW" 0 lk verify --apikey --ip 10.1.1.1 --service svc-a
    # expiring: the soon ones, soonest first; exit 1 when none
    expect_exit 0 lk expiring --within 1h
    out_has '^KeyId  *Kind  *Uin  *Name  *Status  *ExpireTime  *State$'
    out_has_str "$SID_E"
    out_has_str "$SID_R"
    out_has_str "$AKID_OLD"
    out_lacks_str "$SID_N"
    expect_exit 0 lk --json expiring
    json_ok
    [ "$(jnum TotalCount)" = 3 ] || fail "expiring --json: TotalCount is not 3"
    out_has_str '"State":"Expiring"'

    # ---- the rest needs no waiting
    # a third pair by rotation: the CAM limit of two stays
    expect_exit 1 lk key rotate "$SID_N" --grace 1h
    expect_error 'OperationDenied\.AccessKeyOverLimit'
    err_has 'delete one'
    expect_exit 2 lk key rotate "$SID_N"
    err_has -- '--grace SPAN is required'
    expect_exit 2 lk key rotate "$SID_N" --grace 2027-01-01
    err_has 'is not a time span'
    # bad times
    expect_exit 2 lk key create 100002 --expires 5x
    expect_error 'InvalidParameter\.ParamError'
    err_has "'5x' is neither a time span"
    expect_exit 2 lk key create 100002 --expires 2001-01-01
    err_has 'is not in the future'
    expect_exit 2 lk key create 100002 --expires 2027-02-30
    # listed with the expiry; 'never' is '-' / null
    expect_exit 0 lk --json key create 100002 --expires 2099-12-31
    SID_F=$(jget AccessKeyId)
    out_has_str '"ExpireTime":"2099-12-31 00:00:00"'
    expect_exit 0 lk key show "$SID_F"
    out_has '^ExpireTime: *2099-12-31 00:00:00 +0000$'
    expect_exit 0 lk key edit "$SID_F" --expires never
    expect_exit 0 lk --json key show "$SID_F"
    out_has_str '"ExpireTime":null'
    expect_exit 0 lk key list 100002
    out_has '^SecretId  *Status  *CreateTime  *LastAccessTime  *ExpireTime$'
    expect_exit 2 lk key edit "$SID_F"
    err_has 'nothing to change'
    expect_exit 1 lk key edit "$SID_F" --expires 1d --uin 100001
    expect_error 'OperationDenied\.UinNotMatch'
    expect_exit 2 lk expiring --within soon
    # apikey create/edit --expires
    new_apikey 100002 short --expires 1d
    out_matches_ere "\"ExpireTime\":\"$TIME_ERE\""
    expect_exit 0 lk apikey edit "$AKID" --expires never
    expect_exit 0 lk apikey show "$AKID"
    out_has '^ExpireTime: *-$'
    expect_exit 0 lk apikey list 100002
    out_has 'Status  *Scope  *ExpireTime  *RateLimit$'
    # request limits: shown, validated, cleared (counting is per process:
    # tests/daemon/daemon.sh checks it through latchkeyd)
    expect_exit 0 lk --json apikey edit "$AKID" --rate-limit 6000/1m
    expect_exit 0 lk --json apikey show "$AKID"
    out_has_str '"RateLimit":{"Requests":6000,"WindowSeconds":60}'
    expect_exit 0 lk apikey show "$AKID"
    out_has '^RateLimit: *6000/60s$'
    expect_exit 2 lk apikey edit "$AKID" --rate-limit 10/2d
    err_has -- "--rate-limit '10/2d'"
    expect_exit 2 lk apikey create 100002 --name r --rate-limit 0/1s
    expect_exit 2 lk apikey create 100002 --name r --rate-limit none
    expect_exit 0 lk apikey edit "$AKID" --rate-limit none
    expect_exit 0 lk --json apikey show "$AKID"
    out_has_str '"RateLimit":null'
    # several fields in one edit: one change, one audit entry; a bad part refuses all of it
    expect_exit 0 lk --json audit --key "$AKID"
    edits_before=$(jcount '"Action":"apikey.edit"')
    expect_exit 0 lk apikey edit "$AKID" --description 'three at once' --expires 2d --rate-limit 50/1m
    expect_exit 0 lk --json audit --key "$AKID"
    [ "$(jcount '"Action":"apikey.edit"')" = $((edits_before + 1)) ] ||
        fail "an edit of three fields did not make exactly one audit entry"
    out_has_str "\"Fields\":\"description '' → 'three at once'; expiry never → "
    out_has_str '; rate limit none → 50/1m"'
    expect_exit 2 lk apikey edit "$AKID" --description "$(printf 'bad\001')" --rate-limit none
    err_has 'control character'
    expect_exit 0 lk --json apikey show "$AKID"
    out_has_str '"Description":"three at once"'
    out_has_str '"RateLimit":{"Requests":50,"WindowSeconds":60}'

    # ---- after the grace periods: the clock one second past them
    at_time $((T_START + SPAN + 1))
    expect_exit_in "$SK_E" 3 lk verify "$SID_E"
    expect_error 'AuthFailure\.SecretIdExpired'
    err_has "key $SID_E expired at "
    expect_exit_in "$SK_E" 3 lk --json verify "$SID_E"
    json_error 'AuthFailure\.SecretIdExpired'
    # a wrong secret is still a wrong secret
    expect_exit_in "$SK_N" 3 lk verify "$SID_E"
    expect_error 'AuthFailure\.SignatureFailure'
    expect_exit 0 lk records "$SID_E"
    out_has 'AuthFailure\.SecretIdExpired$'
    expect_exit_in "$SK_R" 3 lk verify "$SID_R"
    expect_error 'AuthFailure\.SecretIdExpired'
    expect_exit_in "$SK_N" 0 lk verify "$SID_N"
    expect_exit_in "$AK_OLD" 3 lk verify --apikey --ip 10.1.1.1 --service svc-a
    expect_error 'AuthFailure\.SecretIdExpired'
    expect_exit_in "$AK_NEW" 0 lk verify --apikey --ip 10.1.1.1 --service svc-a
    expect_exit 0 lk --json apikey show --account 100001 --name prod
    out_has_str "\"KeyId\":\"$AKID_NEW\""
    expect_exit 0 lk --json expiring --within 1s
    out_has_str '"State":"Expired"'
    # cleared: the expired key works again
    expect_exit 0 lk key edit "$SID_E" --expires never
    expect_exit_in "$SK_E" 0 lk verify "$SID_E"

    # ---- scan
    printf 'id=%s\nkey=%s\n' "$SID_E" "$SK_E" >"$WORK/cap/leak.txt"
    printf 'Authorization: Bearer %s\n' "$AK_NEW" >>"$WORK/cap/leak.txt"
    # look-alikes: wrong checksum, glued to a word, one character longer
    bad=$(printf '%s' "$SID_N" | sed 's/.$/!/; s/!$/0/')
    [ "$bad" = "$SID_N" ] && bad=$(printf '%s' "$SID_N" | sed 's/.$/1/')
    printf 'x%s %s %s7 %s\n' "$SID_N" "$bad" "$SID_N" "$AKID_NEW" >"$WORK/cap/lookalike.txt"
    expect_exit 1 lk scan "$WORK/cap/lookalike.txt"
    expect_exit 0 lk scan "$WORK/cap/leak.txt"
    out_has '^Kind  *KeyId  *Uin  *Status  *Action  *Where$'
    out_has "^SecretId  *$SID_E  *100001  *Active  *-  *.*leak.txt:1\$"
    out_has '^SecretKey  *-  *-  *OwnerUnknown  *-  *.*leak.txt:2$'
    out_has "^ApiKey  *$AKID_NEW  *100001  *Active  *-  *.*leak.txt:3\$"
    out_lacks_str "$SK_E"
    out_lacks_str "$AK_NEW"
    run_raw "$WORK/cap/leak.txt" lk --json scan
    [ "$RC" = 0 ] || fail "scan of stdin: exit $RC"
    json_ok
    [ "$(jnum TotalCount)" = 3 ] || fail "scan --json: TotalCount is not 3"
    out_has_str '"File":"-","Line":1'
    expect_exit 5 lk scan "$WORK/cap/no-such-file"
    expect_exit 0 lk scan --disable "$WORK/cap/leak.txt" "$WORK/cap/lookalike.txt"
    out_has "^SecretId  *$SID_E  *100001  *Inactive  *Disabled "
    out_has "^ApiKey  *$AKID_NEW  *100001  *Inactive  *Disabled "
    expect_exit_in "$SK_E" 3 lk verify "$SID_E"
    expect_error 'AuthFailure\.SignatureFailure' # disabled: refused before the secret (issue 19)
    expect_exit_in "$SK_N" 0 lk verify "$SID_N" # a look-alike of it was not disabled
    expect_exit 0 lk scan --disable "$WORK/cap/leak.txt"
    out_has "^SecretId  *$SID_E  .*AlreadyDisabled"

    # ---- the audit log: scan --disable says "leaked"
    expect_exit 0 lk audit --key "$SID_E"
    out_has '^Time  *Host  *Uid  *User  *Caller  *RequestId  *Action  *Target  *Uin  *Reason  *Fields$'
    out_has "key\.create  *$SID_E  *100001  *-  *expiry 20[0-9-]* [0-9:]* +0000\$"
    out_has "key\.disable  *$SID_E  *100001  *leaked  *status Active → Inactive\$"
    out_lacks_str "$SK_E"

    # ---- revoke: the account and its members, one transaction
    expect_exit 0 lk key enable "$SID_E" --reason 'false alarm'
    expect_exit 2 lk key enable "$SID_E" --reason "$(printf 'two\nlines')"
    err_has 'reason contains a control character'
    expect_exit 2 lk key list 100001 --reason x
    expect_exit 0 lk --json revoke --user 100001 --reason incident-42
    json_ok
    # SID_E, the member's two pairs (one expired: still Active), the old API key
    [ "$(jnum DisabledCount)" = 4 ] || fail "revoke: DisabledCount is not 4"
    expect_exit_in "$SK_N" 3 lk verify "$SID_N"
    expect_error 'AuthFailure\.SignatureFailure'
    expect_exit 0 lk revoke --user 100001
    out_has '^Disabled 0 key(s) of user 100001'
    expect_exit 1 lk revoke --user 999
    expect_error 'InvalidParameter\.UserNotExist'
    expect_exit 2 lk revoke
    err_has -- '--user UIN is required'
    # another account is untouched
    expect_exit 0 lk --json key show "$SID_F"
    out_has_str '"Status":"Active"'

    # the log, filtered and as JSON
    expect_exit 0 lk --json audit --user 100001 --since 1h
    json_ok
    out_has_str '"Action":"revoke","Target":"100001","Uin":100001,"Fields":"disabled 4 key(s); members 1","Reason":"incident-42"'
    out_has_str '"Action":"key.enable","Target":"'"$SID_E"'","Uin":100001,"Fields":"status Inactive → Active","Reason":"false alarm"'
    out_lacks_str '"Target":"100002"'
    expect_exit 0 lk --json audit --key "$AKID_NEW"
    out_has_str '"Action":"apikey.create"'
    out_has_str "rerolled from $AKID_OLD"
    out_lacks_str "$AK_NEW"
    expect_exit 0 lk --json audit --since 2099-01-01
    [ "$(jnum TotalCount)" = 0 ] || fail "audit --since the future is not empty"
    expect_exit 2 lk audit --since yesterday
    expect_exit 2 lk audit --user x
}

for_each_backend keylife
