#!/bin/sh
# No copy of a new secret is left in freed heap memory: `key create`,
# `apikey create` and `import`, text and --json, run under tests/e2e/heapscan (an
# LD_PRELOAD that searches every freed or reallocated block for something
# shaped like a secret). The --json path matters most: json-c copies what it
# is given, so a secret must reach stdout without passing through it.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

SCAN=$LK_BUILDDIR/tests/e2e/.libs/heapscan.so
[ -f "$SCAN" ] || fail "$SCAN not built"
# Not under valgrind's wrapper (it replaces malloc itself), nor under ASan
# (its runtime must come first), nor wherever preloading is refused.
[ "$LK_OWN_BUILD" = 1 ] || skip "runs only on the build's own latchkey"
LD_PRELOAD=$SCAN "$LATCHKEY" --version >/dev/null 2>&1 || skip "cannot preload $SCAN here"

# lk_scanned ARGS...: lk under the scanner (only that command).
lk_scanned() { LD_PRELOAD=$SCAN "$LATCHKEY" --config "$CFG" "$@"; }

heap() {
    expect_exit 0 lk user add 100001
    for _mode in "" --json; do
        # shellcheck disable=SC2086 # $_mode is one word or none
        run lk_scanned $_mode key create 100001
        [ "$RC" -eq 0 ] || fail "key create $_mode: exit $RC"
        out_has_str LKSK
        err_lacks_str heapscan
        # shellcheck disable=SC2086
        run lk_scanned $_mode apikey create 100001 --name "heap$_mode"
        [ "$RC" -eq 0 ] || fail "apikey create $_mode: exit $RC"
        out_has '"*lk-[0-9A-Za-z]\{54\}'
        err_lacks_str heapscan
    done
    # import: the secrets of many keys, to stdout and to a file
    printf 'type,uin,name\nuser,200001,\napikey,200001,a\nkey,200001,\nkey,200001,\n' >"$DIR/heap.csv"
    run lk_scanned import "$DIR/heap.csv"
    [ "$RC" -eq 0 ] || fail "import: exit $RC"
    out_has '^3,apikey,200001,a,lk-[0-9A-Za-z]*,lk-[0-9A-Za-z]\{54\}$'
    out_has_str LKSK
    err_lacks_str heapscan
    printf '{"type":"user","uin":200002}\n{"type":"apikey","uin":200002,"name":"b"}\n' >"$DIR/heap.jsonl"
    run lk_scanned --json import "$DIR/heap.jsonl" --secrets-out "$DIR/heap.secrets"
    [ "$RC" -eq 0 ] || fail "import --json: exit $RC"
    grep -q '"secret":"lk-[0-9A-Za-z]\{54\}"' "$DIR/heap.secrets" || fail "no secret in the secrets file"
    err_lacks_str heapscan
    # The scanner works: a secret-shaped name is ordinary text, which json-c
    # copies and frees, and the scanner reports it.
    run lk_scanned --json apikey create 100001 --name LKSK012345678901234567890123456789012345678901
    [ "$RC" -eq 0 ] || fail "apikey create with a secret-shaped name: exit $RC"
    err_has_str heapscan
}

LK_E2E_BACKENDS=lmdb
for_each_backend heap
