#!/bin/sh
# Access key lifecycle: user add → key create → verify → wrong secret →
# disable → enable → delete refused while enabled → disable → delete →
# verify denied → gone from the list. Also users: show, list, delete rules.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

lifecycle() {
    expect_exit 0 lk user add 100001
    out_has '^Uin: *100001$'
    out_has '^Kind: *root$'
    expect_exit 0 lk --json user add 100002
    json_ok
    out_matches_ere "^\\{\"Response\":\\{\"User\":\\{\"Uin\":100002,\"Kind\":\"root\",\"RootUin\":100002,\"Login\":\"\",\"SelfService\":\"manage\",\"CreateTime\":\"$TIME_ERE\"\\},"

    # create: exactly the CreateAccessKey shape
    expect_exit 0 lk --json key create 100001
    err_empty
    out_matches_ere "^\\{\"Response\":\\{\"AccessKey\":\\{\"AccessKeyId\":\"AKID[0-9A-Za-z]{32}\",\"SecretAccessKey\":\"LKSK[0-9A-Za-z]{42}\",\"Status\":\"Active\",\"CreateTime\":\"$TIME_ERE\"\\},\"RequestId\":\"$UUID_ERE\"\\}\\}\$"
    json_valid
    SID=$(jget AccessKeyId)
    SK=$(jget SecretAccessKey)

    # table mode create: both values on stdout, the one-time warning on stderr
    expect_exit 0 lk key create 100002
    out_has '^SecretId: *AKID[0-9A-Za-z]\{32\}$'
    out_has '^SecretKey: *LKSK[0-9A-Za-z]\{42\}$'
    err_has 'only time'
    SK2=$(printf '%s\n' "$OUT" | sed -n 's/^SecretKey: *//p')
    SID2=$(printf '%s\n' "$OUT" | sed -n 's/^SecretId: *//p')
    [ "$SID2" != "$SID" ] || fail "two keys got the same SecretId"

    # verify: allowed
    expect_exit_in "$SK" 0 lk verify "$SID"
    out_has '^Result: *Allow$'
    out_has '^Uin: *100001$'
    out_has_str "$SID"
    expect_exit_in "$SK" 0 lk --json verify "$SID"
    json_ok
    out_matches_ere "^\\{\"Response\":\\{\"Result\":\"Allow\",\"Uin\":100001,\"KeyId\":\"$SID\",\"RequestId\":"
    expect_exit 0 lk --json key show "$SID"
    json_ok
    out_matches_ere "^\\{\"Response\":\\{\"AccessKey\":\\{\"AccessKeyId\":\"$SID\",\"Uin\":100001,\"Status\":\"Active\",\"CreateTime\":\"$TIME_ERE\",\"LastAccessTime\":\"$TIME_ERE\",\"ExpireTime\":null\\},"
    # a CRLF line end is stripped
    printf '%s\r\n' "$SK" >"$WORK/cap/crlf"
    run_raw "$WORK/cap/crlf" lk verify "$SID"
    [ "$RC" = 0 ] || fail "SecretKey with CRLF refused"
    # only the first line counts
    printf '%s\nrest\n' "$SK" >"$WORK/cap/twolines"
    run_raw "$WORK/cap/twolines" lk verify "$SID"
    [ "$RC" = 0 ] || fail "SecretKey followed by a second line refused"

    # wrong (well-formed) secret: another key's SecretKey
    expect_exit_in "$SK2" 3 lk verify "$SID"
    expect_error 'AuthFailure\.SignatureFailure'
    err_lacks_str "$SK2"
    [ -z "$OUT" ] || fail "denied verify printed a result"
    expect_exit_in "$SK2" 3 lk --json verify "$SID"
    json_error 'AuthFailure\.SignatureFailure'
    out_lacks_str "$SK2"

    # disable → denied
    expect_exit 0 lk key disable "$SID"
    expect_exit 0 lk key show "$SID"
    out_has '^Status: *Inactive$'
    expect_exit_in "$SK" 3 lk verify "$SID"
    expect_error 'AuthFailure\.SignatureFailure' # refused before the secret is checked (issue 19)
    expect_exit 0 lk records "$SID"
    out_has 'AuthFailure\.SecretIdDisabled$'

    # the owner check: --uin must match
    expect_exit 1 lk key enable "$SID" --uin 100002
    expect_error 'OperationDenied\.UinNotMatch'
    expect_exit 0 lk key enable "$SID" --uin 100001
    expect_exit_in "$SK" 0 lk verify "$SID"

    # delete while enabled: refused, key still works
    expect_exit 1 lk key delete "$SID"
    expect_error 'FailedOperation\.Accesskey'
    expect_exit 1 lk --json key delete "$SID"
    json_error 'FailedOperation\.Accesskey'
    expect_exit_in "$SK" 0 lk verify "$SID"

    # disable, delete
    expect_exit 0 lk --json key disable "$SID"
    json_ok
    out_matches_ere "^\\{\"Response\":\\{\"RequestId\":\"$UUID_ERE\"\\}\\}\$"
    expect_exit 0 lk key delete "$SID" --uin 100001
    expect_exit_in "$SK" 3 lk verify "$SID"
    expect_error 'AuthFailure\.SecretIdNotFound'
    expect_exit 1 lk key show "$SID"
    expect_error 'InvalidParameter\.AccessKeyNotExist'
    expect_exit 1 lk key delete "$SID"

    # the list no longer shows it
    expect_exit 0 lk key list 100001
    out_has '^SecretId  *Status  *CreateTime  *LastAccessTime  *ExpireTime$'
    out_lacks_str "$SID"
    [ "$(printf '%s\n' "$OUT" | wc -l)" -eq 1 ] || fail "key list of a user without keys is not just the header"
    expect_exit 0 lk --json key list 100001
    json_ok
    out_has_str '"AccessKeys":[],"TotalCount":0'

    # the other user's key is untouched
    expect_exit 0 lk --json key list 100002
    out_has_str "\"AccessKeyId\":\"$SID2\",\"Status\":\"Active\""
    out_has_str '"TotalCount":1'

    # users: show, list, members, delete rules
    expect_exit 0 lk --json user show 100001
    out_has_str '"Uin":100001,"Kind":"root","RootUin":100001'
    expect_exit 0 lk user add 100003 --kind sub-user --root 100001
    out_has '^Kind: *sub-user$'
    out_has '^RootUin: *100001$'
    expect_exit 0 lk user add 100004 --kind collaborator --root 100001
    expect_exit 1 lk user add 100005 --kind sub-user --root 999
    expect_error 'InvalidParameter\.UserNotExist'
    expect_exit 1 lk user add 100001
    expect_error 'InvalidParameter\.UserAlreadyExist'
    expect_exit 0 lk user list
    for u in 100001 100002 100003 100004; do out_has "^$u  "; done
    out_lacks_str 100005
    expect_exit 0 lk --json user list --root 100001
    json_ok
    out_has_str '"TotalCount":3'
    out_lacks_str '"Uin":100002'
    # a root with members, a user with keys: refused
    expect_exit 1 lk user delete 100001
    expect_error 'OperationDenied\.UserHasKeys'
    expect_exit 1 lk user delete 100002
    expect_error 'OperationDenied\.UserHasKeys'
    expect_exit 0 lk user delete 100002 --force
    expect_exit 1 lk user show 100002
    expect_error 'InvalidParameter\.UserNotExist'
    expect_exit_in "$SK2" 3 lk verify "$SID2"
    expect_error 'AuthFailure\.SecretIdNotFound'
    expect_exit 0 lk user delete 100003
    expect_exit 1 lk user show 100003

    # login names: bound at add or edit, unique, shown, found, freed on delete
    expect_exit 0 lk user add 100006 --kind sub-user --root 100001 --login alice
    out_has '^Login: *alice$'
    expect_exit 1 lk user add 100007 --login alice
    expect_error 'InvalidParameter\.LoginExist'
    expect_exit 1 lk user show 100007
    expect_exit 2 lk user add 100007 --login 'bad name'
    expect_error 'InvalidParameter\.ParamError'
    err_has_str "login 'bad name' is not a valid login name"
    expect_exit 0 lk user edit 100001 --login root-admin
    out_has '^Login: *root-admin$'
    expect_exit 1 lk user edit 100001 --login alice
    expect_error 'InvalidParameter\.LoginExist'
    expect_exit 2 lk user edit 100001
    expect_exit 2 lk user edit 100001 --login x --no-login
    expect_exit 0 lk --json user show --login alice
    out_has_str '"Uin":100006,"Kind":"sub-user","RootUin":100001,"Login":"alice"'
    expect_exit 1 lk user show --login nobody
    expect_error 'InvalidParameter\.UserNotExist'
    expect_exit 0 lk user list
    out_has '^100006  .*alice'
    # verify --login: the credential must belong to that login
    expect_exit 0 lk --json key create 100001
    SID=$(jget AccessKeyId)
    SK=$(jget SecretAccessKey)
    expect_exit_in "$SK" 0 lk verify "$SID" --login root-admin
    expect_exit_in "$SK" 0 lk verify "$SID" --login "$SID"
    expect_exit_in "$SK" 3 lk verify "$SID" --login alice
    expect_error 'AuthFailure\.LoginNotMatch'
    expect_exit 0 lk user edit 100001 --no-login
    out_has '^Login: *-$'
    expect_exit_in "$SK" 3 lk verify "$SID" --login root-admin
    expect_exit 0 lk user delete 100006
    expect_exit 0 lk user add 100008 --login alice
}

for_each_backend lifecycle
