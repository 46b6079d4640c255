#!/bin/sh
# store copy: every record from one store into another of another backend
# (LMDB -> flat file -> LMDB here; tests/pg/store.sh does LMDB -> PostgreSQL):
# secrets still verify, access records come along, a non-empty target is
# refused unless --replace, the same store is refused.
. "$(dirname "$0")/lib.sh"

setup_store lmdb
A=$CFG
expect_exit 0 lk user add 100
expect_exit 0 lk user add 101 --kind sub-user --root 100
new_key 100
expect_exit_in "$SK" 0 lk verify "$SID"
new_apikey 100 copied-key --scope all
expect_exit 0 lk records "$SID"
REC_A=$OUT
expect_exit 0 lk user list
USERS_A=$OUT

setup_store flatfile
B=$CFG
expect_exit 0 "$LATCHKEY" store copy --from "$A" --to "$B"
out_has "^Records: "
# what was copied, by kind (2 users, 1 access key, 1 API key, the attempt
# recorded by the verify, and the audit entries of the 4 changes)
out_has "^Users: *2$"
out_has "^AccessKeys: *1$"
out_has "^ApiKeys: *1$"
out_has "^AccessRecords: *1$"
out_has "^AuditEntries: *4$"
err_empty # no progress line when stderr is not a terminal
expect_exit_in "$SK" 0 lk verify "$SID"         # the hash came along
expect_exit_in "$AK" 0 lk verify --apikey
expect_exit 0 lk user list
[ "$OUT" = "$USERS_A" ] || fail "user lists differ after the copy"
expect_exit 0 lk records "$SID"
printf '%s\n' "$OUT" | grep -qF "$(printf '%s\n' "$REC_A" | sed -n 3p)" || fail "access records were not copied"

# the target now holds records: refused, then --replace
expect_exit 2 "$LATCHKEY" store copy --from "$A" --to "$B"
expect_error InvalidParameter.ParamError
err_has "already holds"
err_has_str "(2 users, 1 access keys, 1 API keys, 5 audit entries)"
err_has_str "--replace empties it first"
expect_exit 0 "$LATCHKEY" --json store copy --from "$A" --to "$B" --replace
json_ok
# (the source's audit entries are in the target's log already: none again)
out_has_str '"Copied":{"Users":2,"AccessKeys":1,"ApiKeys":1,"AccessRecords":1,"AuditEntries":0}'
out_has_str '"Replaced":{"Users":2,"AccessKeys":1,"ApiKeys":1,"AccessRecords":'
# the target's log keeps its entries and gets the source's only once: a
# second replace from the same source adds just its own store.copy entry
CFG=$B
expect_exit 0 lk audit
n1=$(printf '%s\n' "$OUT" | wc -l)
expect_exit 0 "$LATCHKEY" store copy --from "$A" --to "$B" --replace
out_has "^Replaced: *2 users, 1 access keys, 1 API keys, [0-9]* access records$"
expect_exit 0 lk audit
[ "$(printf '%s\n' "$OUT" | wc -l)" -eq $((n1 + 1)) ] || fail "a second replace logged the source's entries again"
expect_exit_in "$SK" 0 lk verify "$SID"
# a replace by an empty source empties the target, all but its log
setup_store lmdb
E=$CFG
expect_exit 0 "$LATCHKEY" store copy --from "$E" --to "$B" --replace
out_has "^Users: *0$"
CFG=$B
expect_exit 0 lk user list
[ "$(printf '%s\n' "$OUT" | wc -l)" -le 1 ] || fail "a replace by an empty store left users"
expect_exit_in "$SK" 3 lk verify "$SID"
expect_exit 0 "$LATCHKEY" store copy --from "$A" --to "$B" --replace
# and into an LMDB target: a replace by an empty flat store empties it
setup_store flatfile
expect_exit 0 "$LATCHKEY" store copy --from "$CFG" --to "$A" --replace
out_has "^Replaced: *2 users, 1 access keys, 1 API keys, 1 access records$"
CFG=$A
expect_exit 0 lk user list
[ "$(printf '%s\n' "$OUT" | wc -l)" -le 1 ] || fail "a replace by an empty store left users in LMDB"
expect_exit 0 "$LATCHKEY" store copy --from "$B" --to "$A" --replace
out_has "^Users: *2$"
expect_exit 0 lk user list
[ "$OUT" = "$USERS_A" ] || fail "user lists differ after replacing the LMDB store"
expect_exit_in "$SK" 0 lk verify "$SID"
expect_exit 2 "$LATCHKEY" store copy --from "$A" --to "$A"
err_has "same store"
expect_exit 2 "$LATCHKEY" store copy --from "$A"
# a target that does not exist is not created (only init creates stores)
write_config "$DIR/c.yaml" lmdb "$DIR/none.mdb"
expect_exit 5 "$LATCHKEY" store copy --from "$A" --to "$DIR/c.yaml"
err_has "latchkey init"
[ ! -e "$DIR/none.mdb" ] || fail "store copy created a store"
# a progress line on a terminal for a long copy (2000 records or more), on
# standard error only; none in a pipe (script(1) gives the tool a terminal)
if command -v script >/dev/null 2>&1; then
    setup_store lmdb
    BIG=$CFG
    { echo type,uin; i=1; while [ $i -le 1100 ]; do echo "user,$((50000 + i))"; i=$((i + 1)); done; } >"$DIR/big.csv"
    expect_exit 0 lk import "$DIR/big.csv"
    setup_store flatfile
    expect_exit 0 script -qec "\"$LATCHKEY\" store copy --from \"$BIG\" --to \"$CFG\" >\"$DIR/tty.out\"" /dev/null
    out_has "copying: 2203 of 2203 records (100%)"
    grep -q "copying:" "$DIR/tty.out" && fail "the progress line went to standard output"
    grep -q "^Users: *1100" "$DIR/tty.out" || fail "no counts after a copy with progress"
    expect_exit 0 "$LATCHKEY" store copy --from "$BIG" --to "$CFG" --replace
    err_empty
    out_lacks_str "copying:"
    out_has "^Users: *1100$"
fi
note ok
