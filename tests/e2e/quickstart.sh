#!/bin/sh
# examples/quickstart.sh runs as documented: into a fresh directory, every
# step succeeds, each command is echoed, the SecretKey is never printed.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

BACKEND=lmdb
D=$WORK/demo
LAST_CMD="examples/quickstart.sh $D"
RC=0
LATCHKEY=$LATCHKEY sh "$LK_SRCDIR/examples/quickstart.sh" "$D" >"$WORK/cap/out" 2>"$WORK/cap/err" || RC=$?
OUT=$(cat "$WORK/cap/out")
ERR=$(cat "$WORK/cap/err")
[ "$RC" = 0 ] || fail "quickstart.sh failed"
[ -f "$D/latchkey.yaml" ] || fail "no config in $D"
[ -e "$D/store.mdb" ] || fail "no store in $D"
# each command shown as it runs
for step in ' init' ' user add 100001' ' key create 100001 --json' ' key list 100001'; do
    out_has_str "\$ latchkey --config $D/latchkey.yaml$step"
done
out_has '^\$ .*| latchkey --config .* verify AKID'
out_lacks_str '$ latchkey --config '"$D"'/latchkey.yaml verify'  # not without its stdin
out_has '^Result: *Allow$'
SID=$(printf '%s\n' "$OUT" | sed -n 's/^SecretId: *\(AKID[0-9A-Za-z]*\).*/\1/p' | head -n 1)
[ ${#SID} -eq 36 ] || fail "no SecretId in the output"
printf '%s\n' "$OUT" | grep -q "^$SID  *Active" || fail "key list does not show the new key"
# the SecretKey is not in what the user sees
! printf '%s\n%s\n' "$OUT" "$ERR" | grep -q 'LKSK[0-9A-Za-z]\{42\}' || fail "the SecretKey was printed"

# run twice into the same directory: init refuses, the script stops
RC=0
LATCHKEY=$LATCHKEY sh "$LK_SRCDIR/examples/quickstart.sh" "$D" >"$WORK/cap/out" 2>"$WORK/cap/err" || RC=$?
[ "$RC" != 0 ] || fail "quickstart.sh into an existing demo dir succeeded"
