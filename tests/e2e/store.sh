#!/bin/sh
# Store environment errors: exit 5, a message naming what is wrong, and the
# store left exactly as it was.
#   - the store's directory is missing
#   - the store file is group/world-writable (chmod 666): refused
#   - the store's directory is read-only. Root ignores file permissions, so
#     under root this part runs as user "nobody" via setpriv when possible,
#     and is skipped (with a note) otherwise.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

store_err() {
    [ "$RC" = 5 ] || fail "expected exit 5 (store error), got $RC"
    expect_error 'FailedOperation\.Store[A-Za-z]*'
}

# Checksums of the store's data files. LMDB's lock file is left out: even a
# reader writes to it.
store_sums() { find "$DIR" -name 'store*' ! -name '*-lock' -type f | sort | xargs cksum; }

missing_dir() {
    write_config "$CFG" "$BACKEND" "no-such-dir/store.db"
    run lk user add 1
    [ "$RC" = 5 ] || fail "store in a missing dir: exit $RC, expected 5"
    err_has_str 'no-such-dir'
    [ ! -e "$DIR/no-such-dir" ] || fail "the missing dir was created"
    run lk --json user list
    [ "$RC" = 5 ] || fail "store in a missing dir (--json): exit $RC"
    json_error 'FailedOperation\.[A-Za-z]*'
    out_has_str 'no-such-dir'
}

loose_mode() {
    write_config "$CFG" "$BACKEND"
    expect_exit 0 lk user add 1
    new_key 1
    [ -f "$STORE" ] || fail "store file $STORE not created"
    mode=$(stat -c %a "$STORE")
    case $mode in 600 | 400) ;; *) fail "new store file has mode $mode, expected 600" ;; esac
    before=$(store_sums)
    chmod 666 "$STORE"
    for cmd in "user add 2" "user list" "key list 1" "key create 1"; do
        # shellcheck disable=SC2086 # split the command words
        run lk $cmd
        [ "$RC" = 5 ] || fail "'$cmd' on a 666 store: exit $RC, expected 5"
        expect_error 'FailedOperation\.StorePermission'
        err_has_str "$(basename "$STORE")"
    done
    expect_exit_in "$SK" 5 lk verify "$SID"
    expect_error 'FailedOperation\.StorePermission'
    run lk --json user list
    json_error 'FailedOperation\.StorePermission'
    after=$(store_sums)
    [ "$before" = "$after" ] || fail "the refused store was changed"
    [ "$(stat -c %a "$STORE")" = 666 ] || fail "the tool changed the store's mode itself"
    chmod 620 "$STORE"
    run lk user list
    store_err
    # put right, it works again, with nothing lost or added
    chmod 600 "$STORE"
    expect_exit 0 lk --json user list
    out_has_str '"TotalCount":1'
    expect_exit_in "$SK" 0 lk verify "$SID"
}

# as_user: how to run the tool as a non-root user ("" when we are not root).
AS_USER=
pick_user() {
    [ "$(id -u)" != 0 ] && return 0
    command -v setpriv >/dev/null 2>&1 || return 1
    setpriv --reuid=65534 --regid=65534 --clear-groups "$LATCHKEY" --version >/dev/null 2>&1 || return 1
    AS_USER="setpriv --reuid=65534 --regid=65534 --clear-groups"
    chmod 711 "$WORK"
    chown -R 65534:65534 "$DIR"
}

# lk_as CMD...: the tool, as the unprivileged user.
lk_as() {
    # shellcheck disable=SC2086 # AS_USER is a command prefix
    $AS_USER "$LATCHKEY" --config "$CFG" "$@"
}

readonly_dir() {
    if ! pick_user; then
        note "SKIP read-only dir: running as root and cannot switch to an unprivileged user"
        return 0
    fi
    write_config "$CFG" "$BACKEND"
    [ -z "$AS_USER" ] || chown 65534:65534 "$CFG"
    # a store that does not exist yet cannot be created
    rm -f "$STORE" "$STORE-lock" "$STORE.lock"
    chmod 555 "$DIR"
    run lk_as init
    chmod 755 "$DIR"
    [ "$RC" = 5 ] || fail "creating a store in a read-only dir: exit $RC, expected 5"
    expect_error 'FailedOperation\.[A-Za-z]*'
    err_has_str "$DIR"
    [ ! -e "$STORE" ] || fail "a store file appeared in the read-only dir"

    # an existing store in a read-only dir: reads work; a write either
    # works completely or fails with exit 5 and changes nothing
    run lk_as init
    [ "$RC" = 0 ] || fail "init: exit $RC"
    run lk_as user add 1
    [ "$RC" = 0 ] || fail "user add: exit $RC"
    before=$(store_sums)
    chmod 555 "$DIR"
    run lk_as --json user list
    [ "$RC" = 0 ] || fail "read in a read-only dir: exit $RC (a store that can be read must open for reading)"
    out_has_str '"Uin":1,'
    run lk_as user add 2
    wrc=$RC
    chmod 755 "$DIR"
    note "write in a read-only dir${AS_USER:+ (as nobody)}: exit $wrc"
    case $wrc in
    0)
        run lk_as --json user show 2
        [ "$RC" = 0 ] || fail "user add reported success in a read-only dir but the user is missing"
        ;;
    5)
        store_err
        [ "$before" = "$(store_sums)" ] || fail "a failed write in a read-only dir changed the store"
        run lk_as --json user show 2
        [ "$RC" = 1 ] || fail "user add failed in a read-only dir but the user exists"
        ;;
    *) fail "write in a read-only dir: exit $wrc, expected 0 or 5" ;;
    esac
    run lk_as --json user show 1
    [ "$RC" = 0 ] || fail "user 1 lost after the read-only episode"
    [ -z "$AS_USER" ] || chown -R 0:0 "$DIR"
    AS_USER=
}

store() {
    missing_dir
    setup_store "$BACKEND"
    loose_mode
    setup_store "$BACKEND"
    readonly_dir
}

for_each_backend store
