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
    pasted_keys_are_not_echoed
    :
}

# shows_no_secret: the last command's stdout and stderr hold no piece of the
# SecretKey's or the API key's secret part (their first and last 10 chars).
shows_no_secret() {
    for _p in "$SK_HEAD" "$SK_TAIL" "$AK_HEAD" "$AK_TAIL"; do
        out_lacks_str "$_p"
        err_lacks_str "$_p"
    done
}

# A key pasted where an id, a name or a UIN is expected: the error may name
# the public part (SecretId, API key id, "LKSK"), never the secret.
pasted_keys_are_not_echoed() {
    SK_HEAD=$(printf %s "$SK" | cut -c5-14) SK_TAIL=$(printf %s "$SK" | cut -c37-46)
    AK_HEAD=$(printf %s "$AK" | cut -c16-25) AK_TAIL=$(printf %s "$AK" | cut -c48-57)
    [ ${#SK_HEAD} = 10 ] && [ ${#SK_TAIL} = 10 ] && [ ${#AK_HEAD} = 10 ] && [ ${#AK_TAIL} = 10 ] ||
        fail "the secret pieces to look for are not 10 characters each"
    for _k in "$AK" "$SK" "$SID$SK" "$SID:$SK" "$SID$AK" "$AKID:$AK"; do
        for _mode in "" --json; do
            for _cmd in "key show" "key enable" "key disable" "key delete" "apikey show" "apikey enable" \
                "apikey disable" "apikey delete" "records" "key list" "key create" "user show" "user add" \
                "user delete" "apikey list"; do
                # shellcheck disable=SC2086 # $_mode and $_cmd are words
                run lk $_mode $_cmd "$_k"
                [ "$RC" != 0 ] || fail "$_cmd accepted a pasted key"
                shows_no_secret
            done
            # shellcheck disable=SC2086
            run lk $_mode apikey edit "$_k" --description x
            shows_no_secret
            # shellcheck disable=SC2086
            run lk $_mode apikey show --account 100001 --name "$_k"
            shows_no_secret
            # shellcheck disable=SC2086
            run lk $_mode key disable "$SID" --uin "$_k"
            shows_no_secret
            # shellcheck disable=SC2086
            run lk $_mode user add 5 --kind sub-user --root "$_k"
            shows_no_secret
            # shellcheck disable=SC2086
            run lk $_mode apikey create "$_k" --name x
            shows_no_secret
            # shellcheck disable=SC2086
            run lk $_mode apikey create 100001 --name x --allow-ip "$_k"
            shows_no_secret
            # shellcheck disable=SC2086
            run lk $_mode key show "$SID" "$_k"
            shows_no_secret
            # shellcheck disable=SC2086
            run lk $_mode "$_k"
            shows_no_secret
            # shellcheck disable=SC2086
            run_in "$SK" lk $_mode verify "$_k"
            shows_no_secret
        done
    done
    # the public part is still named, so the user can see what was meant
    run lk apikey show "$AK"
    err_has_str "$AKID..."
}

for_each_backend secrets
