#!/bin/sh
# Self-service grants (issue 20): `user add|edit --self-service`, shown by
# user show / list (text and --json), refused clearly when wrong with
# nothing changed, audited; and `latchkey audit` showing the management-API
# caller of a change (made by tests/e2e/as_caller through the library, as
# latchkeyd does for each request) beside the local tool's own entries.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

AS_CALLER=$(lk_direct "$LK_BUILDDIR/tests/e2e/as_caller")
[ -x "$AS_CALLER" ] || { echo "FAIL: $AS_CALLER not built" >&2; exit 1; }

# audit_count UIN: how many audit entries are about UIN.
audit_count() {
    expect_exit 0 lk --json audit --user "$1"
    jnum TotalCount
}

selfservice() {
    expect_exit 0 lk user add 100001
    out_has '^SelfService: *manage$' # a root account manages every key of its account
    expect_exit 0 lk user add 200001 --kind sub-user --root 100001 --self-service read
    out_has '^SelfService: *read$'
    expect_exit 0 lk --json user add 200002 --kind collaborator --root 100001
    json_ok
    out_has_str '"Kind":"collaborator","RootUin":100001,"Login":"","SelfService":"none",'
    expect_exit 0 lk user add 200003 --kind sub-user --root 100001 --self-service=manage --login carol
    out_has '^SelfService: *manage$'

    # ---- refusals name the option and create nothing
    expect_exit 2 lk user add 200009 --kind sub-user --root 100001 --self-service write
    expect_error 'InvalidParameter\.ParamError'
    err_has_str "--self-service 'write': expected none, read or manage"
    expect_exit 2 lk --json user add 200009 --kind sub-user --root 100001 --self-service ''
    json_error 'InvalidParameter\.ParamError'
    out_has_str "--self-service ''"
    expect_exit 2 lk user add 100009 --self-service read
    err_has_str '--self-service: 100009 is a root account'
    expect_exit 1 lk user show 200009
    expect_exit 1 lk user show 100009
    expect_error 'InvalidParameter\.UserNotExist'

    # ---- edit: the grant alone, or with the login
    expect_exit 0 lk user edit 200002 --self-service manage --reason 'on-call'
    out_has '^SelfService: *manage$'
    out_has '^Login: *-$'
    expect_exit 0 lk user edit 200002 --self-service read --login dave
    out_has '^SelfService: *read$'
    out_has '^Login: *dave$'
    expect_exit 0 lk user edit 200002 --no-login
    out_has '^SelfService: *read$' # the login alone leaves the grant as it was
    n=$(audit_count 200002)
    expect_exit 2 lk user edit 200002 --self-service all
    err_has_str "--self-service 'all': expected none, read or manage"
    expect_exit 2 lk user edit 100001 --self-service none
    err_has_str '100001 is a root account'
    expect_exit 2 lk user edit 200002
    err_has_str 'nothing to change'
    # a login another user holds: refused before anything changes
    expect_exit 1 lk user edit 200002 --login carol --self-service none
    expect_error 'InvalidParameter\.LoginExist'
    expect_exit 1 lk user edit 999 --self-service read
    expect_error 'InvalidParameter\.UserNotExist'
    expect_exit 0 lk --json user show 200002
    out_has_str '"Login":"","SelfService":"read",'
    [ "$(audit_count 200002)" = "$n" ] || fail "a refused edit wrote an audit entry"
    expect_exit 0 lk --json user show 100001
    out_has_str '"SelfService":"manage"'

    # ---- list, text and JSON
    expect_exit 0 lk user list --root 100001
    out_has '^Uin  *Kind  *RootUin  *Login  *SelfService  *CreateTime$'
    out_has '^100001  *root  *100001  *-  *manage  '
    out_has '^200001  *sub-user  *100001  *-  *read  '
    out_has '^200002  *collaborator  *100001  *-  *read  '
    out_has '^200003  *sub-user  *100001  *carol  *manage  '
    expect_exit 0 lk --json user list
    json_ok
    [ "$(jcount '"SelfService":"manage"')" = 2 ] || fail "user list --json: not two users with manage"
    [ "$(jcount '"SelfService":"read"')" = 2 ] || fail "user list --json: not two users with read"

    # ---- the audit log of the grants (the local tool: no caller)
    expect_exit 0 lk audit --user 200002
    out_has '^Time  *Host  *Uid  *User  *Caller  *RequestId  *Action  *Target  *Uin  *Reason  *Fields$'
    out_has "  -  *-  *user\\.add  *200002  *200002  *-  *kind collaborator; root account 100001; login none; self-service none\$"
    out_has "  -  *-  *user\\.edit  *200002  *200002  *on-call  *self-service none → manage\$"
    out_has "user\\.edit  *200002  *200002  *-  *self-service manage → read\$"
    expect_exit 0 lk audit --user 100001
    out_has 'user\.add  *100001  *100001  *-  *kind root; root account 100001; login none$' # a root: no grant

    # ---- a change made for a management-API caller
    new_key 200003
    run "$AS_CALLER" "$CFG" 200003 "$SID" 192.0.2.7 6f1c2e9a-8b4d-4c3e-9f70-2a5b1d0e4c11 200001 manage
    [ "$RC" = 0 ] || fail "as_caller failed: $ERR"
    run "$AS_CALLER" "$CFG" 100001 login:carol 2001:db8::1 0b7e4f0e-1111-4222-8333-944455556666 200001 none
    [ "$RC" = 0 ] || fail "as_caller (proxy login) failed: $ERR"
    expect_exit 0 lk audit --user 200001
    out_has "  200003/$SID@192\\.0\\.2\\.7  *6f1c2e9a-8b4d-4c3e-9f70-2a5b1d0e4c11  *user\\.edit  *200001  *200001  *-  *self-service read → manage\$"
    out_has "  100001/login:carol@2001:db8::1  *0b7e4f0e-1111-4222-8333-944455556666  *user\\.edit  *200001  *200001  *-  *self-service manage → none\$"
    out_has "  -  *-  *user\\.add  *200001  " # the local tool's entry: no caller
    expect_exit 0 lk --json audit --user 200001
    json_ok
    out_has_str '"Action":"user.add","Target":"200001","Uin":200001,'
    out_has_str '"Reason":"","Caller":null}'
    out_has_str '"Caller":{"Uin":200003,"SecretId":"'"$SID"'","Login":"","Peer":"192.0.2.7","RequestId":"6f1c2e9a-8b4d-4c3e-9f70-2a5b1d0e4c11"}'
    out_has_str '"Caller":{"Uin":100001,"SecretId":"","Login":"carol","Peer":"2001:db8::1","RequestId":"0b7e4f0e-1111-4222-8333-944455556666"}'
    out_lacks_str "$SK"
    expect_exit 0 lk user show 200001
    out_has '^SelfService: *none$'
    # a caller field that is not what it claims is refused, and nothing changes
    run "$AS_CALLER" "$CFG" 200003 "$SK" 192.0.2.7 r-1 200001 read
    [ "$RC" = 1 ] || fail "as_caller with a SecretKey as the SecretId: exit $RC"
    printf '%s\n' "$ERR" | grep -q "the caller's SecretId is not a SecretId" || fail "no message: $ERR"
    printf '%s\n' "$ERR" | grep -qF -e "$SK" && fail "the secret reached the message"
    expect_exit 0 lk user show 200001
    out_has '^SelfService: *none$'
}

for_each_backend selfservice
