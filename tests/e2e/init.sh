#!/bin/sh
# `init`: writes a config and creates its store; never overwrites a config;
# a failed init leaves nothing behind. Then the quickstart flow on the new
# store (default Argon2 parameters: the real thing, just a few hashes).
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

init_default() {
    D=$WORK/init-default
    mkdir "$D"
    CFG=$D/latchkey.yaml
    BACKEND=lmdb
    expect_exit 0 lk init
    out_has "^Created config: *$CFG\$"
    out_has '^Backend: *lmdb$'
    out_has "^Store: *$D/store.mdb\$"
    [ -f "$CFG" ] || fail "no config written"
    [ -e "$D/store.mdb" ] || fail "no LMDB store created"
    grep -q 'backend: "lmdb"' "$CFG" || fail "config does not name the lmdb backend"

    # never overwrite
    before=$(cksum "$CFG")
    expect_exit 1 lk init --backend flatfile
    expect_error 'FailedOperation\.ConfigExists'
    err_has_str "$CFG"
    [ "$before" = "$(cksum "$CFG")" ] || fail "init changed an existing config"
    expect_exit 1 lk --json init
    json_error 'FailedOperation\.ConfigExists'

    # the quickstart flow on it
    expect_exit 0 lk user add 100001
    expect_exit 0 lk key create 100001 --json
    json_ok
    SID=$(jget AccessKeyId)
    SK=$(jget SecretAccessKey)
    expect_exit_in "$SK" 0 lk verify "$SID"
    out_has '^Result: *Allow$'
    expect_exit 0 lk key list 100001
    out_has "^$SID  *Active  "
    out_lacks_str "$SK"
}

init_flatfile() {
    D=$WORK/init-flat
    mkdir -p "$D/data"
    CFG=$D/conf.yaml
    BACKEND=flatfile
    expect_exit 0 lk --json init --backend flatfile --store 'data/my store#1.txt'
    json_ok
    out_has_str "\"Config\":\"$CFG\",\"Backend\":\"flatfile\",\"Store\":\"$D/data/my store#1.txt\""
    [ -f "$D/data/my store#1.txt" ] || fail "flatfile store not created at the odd path"
    # make hashing fast for the rest (appending a top-level key is valid YAML)
    echo 'hash: {opslimit: 1, memlimit_kib: 8}' >>"$CFG"
    expect_exit 0 lk user add 5
    new_key 5
    expect_exit_in "$SK" 0 lk verify "$SID"
    (cd / && "$LATCHKEY" --config "$CFG" key list 5 | grep -qF "$SID") || fail "store not found from another cwd"

    # default flatfile store name
    D=$WORK/init-flat2
    mkdir "$D"
    CFG=$D/latchkey.yaml
    expect_exit 0 lk init --backend flatfile
    [ -f "$D/store.txt" ] || fail "default flatfile store store.txt not created"
}

init_failures() {
    BACKEND=lmdb
    D=$WORK/init-fail
    mkdir "$D"
    CFG=$D/latchkey.yaml
    # store in a missing dir: error naming it, and the config is removed again
    run lk init --store missing/store.mdb
    [ "$RC" = 5 ] || fail "init with a store in a missing dir: exit $RC, expected 5"
    err_has_str 'missing'
    [ ! -e "$CFG" ] || fail "failed init left its config behind"
    # config in a missing dir: created (0700, the store goes there too)
    CFG=$D/nodir/sub/latchkey.yaml
    expect_exit 0 lk init
    [ -f "$CFG" ] && [ -e "$D/nodir/sub/store.mdb" ] || fail "init did not create its directory, config and store"
    [ "$(stat -c %a "$D/nodir/sub")" = 700 ] || fail "a directory init created is not 0700"
    # a directory that cannot be made: error naming the path
    printf 'x' >"$D/afile"
    CFG=$D/afile/latchkey.yaml
    run lk init
    [ "$RC" = 5 ] || fail "init under a regular file: exit $RC, expected 5"
    err_has_str "$D/afile"
    # extra arguments, bad backend: usage errors, nothing written
    CFG=$D/latchkey.yaml
    expect_exit 2 lk init lmdb
    expect_exit 2 lk init --backend nosuch
    [ ! -e "$CFG" ] || fail "usage error wrote a config"
    # the retry works
    expect_exit 0 lk init
}

# Only init creates a store: any other command on a config whose store is
# missing (a mistyped store.path) fails with exit 5, names the path, points
# at `latchkey init`, and leaves nothing behind. init then creates that
# store without touching the config.
missing_store() {
    D=$WORK/missing-$BACKEND
    mkdir "$D"
    CFG=$D/latchkey.yaml
    write_config "$CFG" "$BACKEND" "stroe.db"
    for cmd in "user add 1" "user list" "key list 1" "key create 1" "apikey list 1" "records AKID0000000000000000000000000000000000"; do
        # shellcheck disable=SC2086 # split the command words
        run lk $cmd
        [ "$RC" = 5 ] || fail "'$cmd' on a missing store: exit $RC, expected 5"
        expect_error 'FailedOperation\.Storage'
        err_has_str "$D/stroe.db"
        err_has_str 'not found'
        err_has_str 'latchkey init'
    done
    expect_exit_in "LKSK0000000000000000000000000000000000000000" 5 lk verify AKID00000000000000000000000000000000
    err_has_str 'not found'
    run lk --json user list
    [ "$RC" = 5 ] || fail "--json on a missing store: exit $RC"
    json_error 'FailedOperation\.Storage'
    out_has_str 'latchkey init'
    [ -z "$(ls -A "$D" | grep -v '^latchkey.yaml$')" ] || fail "a command other than init created files: $(ls -A "$D")"

    before=$(cksum "$CFG")
    expect_exit 0 lk init
    out_has "^Created store for: *$CFG\$"
    out_has "^Store: *$D/stroe.db\$"
    [ -f "$D/stroe.db" ] || fail "init did not create the missing store"
    [ "$before" = "$(cksum "$CFG")" ] || fail "init changed the existing config"
    expect_exit 0 lk user add 1
    # now that config and store exist, init refuses as before
    expect_exit 1 lk init
    expect_error 'FailedOperation\.ConfigExists'
}

init_default
init_flatfile
init_failures
for BACKEND in $LK_E2E_BACKENDS; do
    missing_store
done
