#!/bin/sh
# verify: what it says and what it accepts. The message after a verdict
# describes that verdict (recording the attempt must not replace it), and a
# malformed --ip or --service is a usage error, not a denial.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

verify_input() {
    expect_exit 0 lk user add 100001
    new_key 100001
    SID1=$SID
    SK1=$SK
    new_key 100001
    SK2=$SK
    new_apikey 100001 one

    # an empty --ip means "address unknown"; the message is still the verdict's
    expect_exit_in "$SK2" 3 lk verify "$SID1" --ip ""
    expect_error 'AuthFailure\.SignatureFailure'
    err_has 'wrong SecretKey'
    expect_exit_in "$SK2" 3 lk --json verify "$SID1" --ip ""
    json_error 'AuthFailure\.SignatureFailure'
    out_has 'wrong SecretKey'
    expect_exit 0 lk apikey disable "$AKID"
    expect_exit_in "$AK" 3 lk verify --apikey --ip ""
    expect_error 'AuthFailure\.SignatureFailure' # disabled: refused before the secret (issue 19)
    err_has 'wrong secret for API key'
    err_lacks_str 'disabled'
    expect_exit_in "$SK1" 0 lk verify "$SID1" --ip ""

    # a malformed --ip or --service: a usage error naming the option (exit 2),
    # not a denial (exit 3), and no access record
    expect_exit 0 lk apikey enable "$AKID"
    expect_exit 0 lk --json records "$SID1"
    before=$(jcount '"Time"')
    for bad in bogus 10.0.0.0/8 host.example.com '10.0.0.1 ' 999.1.1.1; do
        expect_exit_in "$SK1" 2 lk verify "$SID1" --ip "$bad"
        expect_error 'InvalidParameter\.ParamError'
        err_has_str '--ip'
        expect_exit_in "$AK" 2 lk verify --apikey --ip "$bad"
        err_has_str '--ip'
        expect_exit_in "$AK" 2 lk --json verify --apikey --ip "$bad"
        json_error 'InvalidParameter\.ParamError'
        out_has_str '--ip'
    done
    for bad in 'a b' '' "svc;rm"; do
        expect_exit_in "$SK1" 2 lk verify "$SID1" --service "$bad"
        err_has_str '--service'
    done
    expect_exit 0 lk --json records "$SID1"
    [ "$(jcount '"Time"')" = "$before" ] || fail "a malformed request was recorded"
    # well-formed ones still verify
    expect_exit_in "$SK1" 0 lk verify "$SID1" --ip 2001:db8::1 --service hunyuan-t1
    expect_exit_in "$AK" 0 lk verify --apikey --ip 10.1.2.3

    # API key names: not blank, no white space around them
    for bad in ' ' '   ' ' Prod' 'Prod ' "$(printf 'Prod\302\240')"; do
        expect_exit 2 lk apikey create 100001 --name "$bad"
        expect_error 'InvalidParameter\.ParamError'
        err_has 'white space'
    done
    expect_exit 0 lk apikey create 100001 --name 'Prod Text'
}

for_each_backend verify_input
