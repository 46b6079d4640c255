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
expect_exit 0 "$LATCHKEY" --json store copy --from "$A" --to "$B" --replace
json_ok
expect_exit 2 "$LATCHKEY" store copy --from "$A" --to "$A"
err_has "same store"
expect_exit 2 "$LATCHKEY" store copy --from "$A"
# a target that does not exist is not created (only init creates stores)
write_config "$DIR/c.yaml" lmdb "$DIR/none.mdb"
expect_exit 5 "$LATCHKEY" store copy --from "$A" --to "$DIR/c.yaml"
err_has "latchkey init"
[ ! -e "$DIR/none.mdb" ] || fail "store copy created a store"
note ok
