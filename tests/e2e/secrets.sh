#!/bin/sh
# Secrets are shown once: after create, no output of any command contains a
# SecretKey or API key value, and neither does any file of the store.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

# no_secret_in_output CMD...: run it in text and JSON mode; no secret shown.
no_secret_in_output() {
    for _mode in "" --json; do
        # shellcheck disable=SC2086 # $_mode is one word or none
        run lk $_mode "$@"
        for _s in "$SK" "$AK"; do
            out_lacks_str "$_s"
            err_lacks_str "$_s"
        done
        # not even a long piece of one (a key printed in parts)
        out_lacks_str "$(printf %s "$SK" | cut -c5-20)"
        out_lacks_str "$(printf %s "$AK" | cut -c16-40)"
    done
}

# Every file under the store dir, also binary ones.
store_lacks() {
    if grep -rqaF -e "$1" "$DIR"; then
        fail "$2 found in the store: $(grep -rlaF -e "$1" "$DIR" | tr '\n' ' ')"
    fi
}

secrets() {
    expect_exit 0 lk user add 100001
    new_key 100001
    new_apikey 100001 one --scope svc-a --allow-ip 10.0.0.0/8 --description 'no secrets here'
    [ -n "$SK" ] && [ -n "$AK" ] || fail "no secret captured"

    # use them, so records and last access times exist
    expect_exit_in "$SK" 0 lk verify "$SID" --ip 10.0.0.1 --service svc-a
    expect_exit_in "$AK" 0 lk verify --apikey --ip 10.0.0.1 --service svc-a
    expect_exit_in "$AK" 3 lk verify --apikey --ip 10.0.0.1 --service svc-b

    # the secrets exist, and are checked, but are never printed again
    no_secret_in_output key show "$SID"
    no_secret_in_output key list 100001
    no_secret_in_output records "$SID"
    no_secret_in_output records "$AKID"
    no_secret_in_output apikey list 100001
    no_secret_in_output apikey show "$AKID"
    no_secret_in_output apikey show --account 100001 --name one
    no_secret_in_output user show 100001
    no_secret_in_output user list
    # another create prints its own new secret, never an old one
    expect_exit 0 lk --json key create 100001
    out_lacks_str "$SK"
    SK3=$(jget SecretAccessKey)
    [ ${#SK3} -eq 46 ] || fail "second key create printed no SecretKey"
    # ...and error messages do not echo the input
    expect_exit_in "$SK3" 3 lk verify "$SID"
    err_lacks_str "$SK3"
    expect_exit_in "${SK}x" 3 lk verify "$SID"
    err_lacks_str "$SK"
    expect_exit_in "${AK}x" 3 lk --json verify --apikey
    out_lacks_str "$AK"
    expect_exit_in "$SK" 3 lk verify --apikey
    err_lacks_str "$SK"
    # verification from a file descriptor leaves nothing behind either
    expect_exit_in "$SK" 0 lk verify "$SID"

    # the store holds hashes only
    lk_ls=$(ls -A "$DIR")
    [ -s "$STORE" ] || fail "store file $STORE missing or empty (dir: $lk_ls)"
    store_lacks "$SK" "the SecretKey"
    store_lacks "$SK3" "the second SecretKey"
    store_lacks "$AK" "the API key"
    store_lacks "$(printf %s "$SK" | cut -c5-46)" "the SecretKey's random part"
    store_lacks "$(printf %s "$AK" | cut -c16-57)" "the API key's secret part"
    # while the public ids are there (the grep itself works)
    grep -rqaF -e "$SID" "$DIR" || fail "SecretId not found in the store: the grep proves nothing"
    grep -rqaF -e "$AKID" "$DIR" || fail "API key id not found in the store: the grep proves nothing"
    # and the hashes are Argon2id
    grep -rqaF -e '$argon2id$' "$DIR" || fail "no Argon2id hash in the store"
    if [ "$BACKEND" = flatfile ]; then
        grep -qF -e "$SK" "$STORE" && fail "flatfile text contains the SecretKey"
        grep -qF -e "$AK" "$STORE" && fail "flatfile text contains the API key"
    fi
    :
}

for_each_backend secrets
