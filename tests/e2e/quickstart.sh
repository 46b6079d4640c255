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

# re-runs into the same directory reuse the store; at the 2-key limit the
# oldest key is rotated out (disabled, then deleted), so every run succeeds
FIRST=$SID
for run in 2 3; do
    sleep 1 # CreateTime has 1 s resolution: keep "the oldest key" unambiguous
    RC=0
    LATCHKEY=$LATCHKEY sh "$LK_SRCDIR/examples/quickstart.sh" "$D" >"$WORK/cap/out" 2>"$WORK/cap/err" || RC=$?
    OUT=$(cat "$WORK/cap/out")
    [ "$RC" = 0 ] || fail "run $run of quickstart.sh into the same directory failed"
    out_has '^# reusing '
    out_has '^Result: *Allow$'
done
out_has_str "key disable $FIRST"
out_has_str "key delete $FIRST"
[ "$(printf '%s\n' "$OUT" | grep -c '^AKID')" = 2 ] || fail "the user should hold exactly 2 keys after rotation"
! printf '%s\n' "$OUT" | grep -q "^$FIRST " || fail "the oldest key was not rotated out"
