#!/bin/sh
# Bad input on the command line and on stdin: malformed credentials, bad
# UINs, unknown commands and options, oversized secrets, and the --json
# error shape. Every case: a clear message, the documented exit code, and
# nothing changed.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

# usage_err CMD...: exit 2, the usage error line and the --help hint on stderr.
usage_err() {
    expect_exit 2 "$@"
    expect_error 'InvalidParameter\.ParamError'
    err_has "latchkey --help"
    [ -z "$OUT" ] || fail "usage error printed on stdout"
}

badinput() {
    expect_exit 0 lk user add 100001
    new_key 100001

    # a malformed SecretId: InvalidSecretId; a malformed SecretKey for a known
    # SecretId: a wrong secret (SignatureFailure), both exit 3
    expect_exit_in "$SK" 3 lk verify AKIDbogus
    expect_error 'AuthFailure\.InvalidSecretId'
    expect_exit_in "$SK" 3 lk verify "${SID%?}"
    expect_error 'AuthFailure\.InvalidSecretId'
    expect_exit_in "$SK" 3 lk verify "$(printf %s "$SID" | tr 'A-Za-z' 'B-ZAb-za')"
    expect_exit_in "${SK%?????}" 3 lk verify "$SID"
    expect_error 'AuthFailure\.SignatureFailure'
    expect_exit_in "" 3 lk verify "$SID"
    expect_error 'AuthFailure\.SignatureFailure'
    expect_exit_in "${SK%?????}" 3 lk --json verify "$SID"
    json_error 'AuthFailure\.SignatureFailure'
    expect_exit_in "not-an-api-key" 3 lk verify --apikey
    expect_error 'AuthFailure\.InvalidSecretId'
    # an over-long secret is refused, not truncated
    head -c 5000 /dev/zero | tr '\0' 'a' >"$WORK/cap/long"
    run_raw "$WORK/cap/long" lk verify "$SID"
    [ "$RC" = 2 ] || fail "5000-byte secret: exit $RC, expected 2"
    err_has '4096'
    { printf %s "$SK"; head -c 5000 /dev/zero | tr '\0' 'a'; } >"$WORK/cap/long2"
    run_raw "$WORK/cap/long2" lk verify "$SID"
    [ "$RC" = 2 ] || fail "secret + 5000 bytes: exit $RC, expected 2"
    # the secret stays usable (nothing was changed by the bad attempts)
    expect_exit_in "$SK" 0 lk verify "$SID"
    # secrets never come from argv
    usage_err lk verify "$SID" "$SK"
    err_has 'stdin'
    err_lacks_str "$SK"

    # bad UINs: usage error naming the argument
    for bad in -5 0 12abc 99999999999999999999 9223372036854775808 ' 1' '1 ' +1 0x10 ''; do
        usage_err lk user add "$bad"
        err_has "UIN '"
    done
    usage_err lk key create 12abc
    err_has "UIN '12abc'"
    usage_err lk key list -5
    err_has "UIN '-5'"
    usage_err lk user add 5 --kind sub-user --root x
    err_has_str "--root 'x'"
    usage_err lk key disable "$SID" --uin 0
    err_has_str "--uin '0'"
    usage_err lk apikey show --account abc --name x
    err_has_str "--account 'abc'"
    usage_err lk apikey create 1e3 --name x
    err_has "ROOT_UIN '1e3'"
    # the largest UIN is fine
    expect_exit 0 lk user add 9223372036854775807
    expect_exit 0 lk --json user show 9223372036854775807
    out_has_str '"Uin":9223372036854775807'
    expect_exit 0 lk user add 0001234
    out_has '^Uin: *1234$'

    # unknown commands, options, wrong argument counts
    usage_err lk frobnicate
    err_has "unknown command 'frobnicate'"
    usage_err lk key frob
    err_has "unknown command 'key frob'"
    usage_err lk key
    err_has 'subcommand'
    usage_err lk
    usage_err lk user add
    err_has 'missing argument'
    usage_err lk user add 1 2
    err_has "unexpected argument '2'"
    usage_err lk key create 100001 --frob
    err_has_str "unknown option: --frob"
    usage_err lk key create 100001 --scope all
    err_has_str '--scope is not valid'
    usage_err lk user add 5 --kind boss
    err_has_str "--kind 'boss'"
    usage_err lk user add 5 --kind
    err_has 'needs a value'
    usage_err lk user add 5 --kind root --kind root
    err_has 'more than once'
    usage_err lk user list --force=yes
    usage_err lk -x user list
    usage_err lk verify
    usage_err lk verify "$SID" --apikey
    usage_err lk init --store
    # nothing of the above was created
    expect_exit 0 lk --json user list
    [ "$(jcount '"Uin":')" -eq 3 ] || fail "usage errors changed the store"
    expect_exit 0 lk --json key list 100001
    out_has_str '"TotalCount":1'

    # "--" ends options; option values may start with "-"
    expect_exit 0 lk apikey create 100001 --name -dash --description --json
    out_has '^Name: *-dash$'
    out_has '^Description: *--json$'
    expect_exit 0 lk --json apikey show --account 100001 --name=-dash
    out_has_str '"Name":"-dash"'

    # --json errors: one line on stdout, nothing on stderr, still the exit code
    expect_exit 2 lk --json frobnicate
    json_error 'InvalidParameter\.ParamError'
    expect_exit 2 lk user add 12abc --json
    json_error 'InvalidParameter\.ParamError'
    out_has_str "UIN '12abc'"
    expect_exit 1 lk key create 424242 --json
    json_error 'InvalidParameter\.UserNotExist'
    expect_exit 1 lk --json user add 100001
    json_error 'InvalidParameter\.UserAlreadyExist'
    # messages are JSON-escaped
    expect_exit 2 lk --json user add 'a"b\c'
    json_error 'InvalidParameter\.ParamError'
    out_has_str 'a\"b\\c'
    # control characters escaped; bytes that are not UTF-8 become U+FFFD
    expect_exit 2 lk --json user add "$(printf 'a\001\377b')"
    json_error 'InvalidParameter\.ParamError'
    out_has_str "$(printf 'a\\u0001\357\277\275b')"

    # help and version
    expect_exit 0 "$LATCHKEY" --help
    out_has '^Usage: latchkey'
    out_has '^Exit status:'
    for code in 0 1 2 3 4 5; do out_has "^  $code  "; done
    expect_exit 0 "$LATCHKEY" help
    out_has '^Usage: latchkey'
    expect_exit 0 "$LATCHKEY" -h
    expect_exit 0 "$LATCHKEY" key create --help
    out_has '^Usage: latchkey'
    expect_exit 0 "$LATCHKEY" --version
    out_has '^latchkey [0-9][0-9.]*$'
}

for_each_backend badinput
