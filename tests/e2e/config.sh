#!/bin/sh
# Configuration errors: exit 4 with a message naming file and line; nothing
# created. Also how the config file is found (--config, $LATCHKEY_CONFIG).
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

# config_err: the last command failed as a configuration error in $CFG.
config_err() {
    [ "$RC" = 4 ] || fail "expected exit 4 (configuration error), got $RC"
    expect_error 'InvalidParameter\.Config'
    err_has_str "$(basename "$CFG")"
    [ -z "$OUT" ] || fail "configuration error printed on stdout"
}

# config_err_line: ... and the message has file:line.
config_err_line() {
    config_err
    err_has 'latchkey\.yaml:[0-9][0-9]*'
}

# no_store: the failed command created no store file (these configs name store.x).
no_store() {
    [ ! -e "$DIR/store.x" ] || fail "a store was created despite the error"
}

config() {
    # truncated mid-file: inside a flow mapping
    printf 'store:\n  backend: %s\n  path: store.x\nhash: {opslimit: 1, memli' "$BACKEND" >"$CFG"
    run lk user list
    config_err_line
    no_store
    # truncated inside a quoted scalar
    printf 'store:\n  backend: %s\n  path: "store.x' "$BACKEND" >"$CFG"
    run lk user list
    config_err_line
    # truncated mid-word: valid YAML, but the backend name is cut short
    printf 'store:\n  backend: %s\n  path: store.x\nhash:\n  opslimit: 1\n  memlimit_kib: 8\n' \
        "$(printf %s "$BACKEND" | cut -c1-3)" >"$CFG"
    run lk user list
    config_err_line
    err_has 'latchkey\.yaml:2'
    no_store

    # unknown key, named with its line
    write_config "$CFG" "$BACKEND" "" 'colour: blue'
    run lk user list
    config_err_line
    err_has_str 'colour'
    err_has 'latchkey\.yaml:6'
    write_config "$CFG" "$BACKEND" "" 'limits: {keys_per_usr: 3}'
    run lk --json user list
    [ "$RC" = 4 ] || fail "unknown nested key: exit $RC"
    json_error 'InvalidParameter\.Config'
    out_has_str 'keys_per_usr'
    # wrong type and out of range
    write_config "$CFG" "$BACKEND" "" 'limits: {keys_per_user: many}'
    run lk user list
    config_err_line
    write_config "$CFG" "$BACKEND" "" 'limits: {keys_per_user: 0}'
    run lk user list
    config_err_line
    no_store

    # missing file
    rm -f "$CFG"
    run lk user list
    config_err
    run "$LATCHKEY" --config "$DIR/nowhere/latchkey.yaml" user list
    [ "$RC" = 4 ] || fail "config in a missing dir: exit $RC"
    err_has_str 'nowhere'

    # init refuses a bad --backend before writing anything
    run lk init --backend nosuch
    [ "$RC" = 2 ] || fail "init --backend nosuch: exit $RC"
    err_has_str 'nosuch'
    [ ! -e "$CFG" ] || fail "init --backend nosuch left a config file"

    # how the file is found: $LATCHKEY_CONFIG, overridden by --config
    write_config "$CFG" "$BACKEND"
    LATCHKEY_CONFIG=$CFG
    export LATCHKEY_CONFIG
    expect_exit 0 "$LATCHKEY" user add 77
    expect_exit 0 "$LATCHKEY" --json user show 77
    out_has_str '"Uin":77'
    expect_exit 4 "$LATCHKEY" --config "$DIR/other.yaml" user show 77
    err_has_str 'other.yaml'
    unset LATCHKEY_CONFIG
    # --config anywhere on the line
    expect_exit 0 "$LATCHKEY" user show 77 --config "$CFG"
    expect_exit 0 "$LATCHKEY" user show --config="$CFG" 77
    # relative store paths are relative to the config file, not the cwd
    (cd / && "$LATCHKEY" --config "$CFG" user show 77 >/dev/null) || fail "store path resolved against the cwd"
}

for_each_backend config
