#!/bin/sh
# The PostgreSQL store through the tool, on a private cluster: the schema's
# versions, the CAM limit under concurrent writers of separate processes,
# and a server that goes away and comes back.
set -eu
S=${LK_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${LK_BUILDDIR:-$S}
. "$S/tests/e2e/lib.sh"
. "$S/tests/pg/lib.sh"
pg_start
export PG_DIR PG_PORT
BACKEND=postgresql

# ---- init creates the schema; a store without one, or a newer one, is refused
PG_STORE_CONNINFO=$(pg_new_db lk_store)
DIR=$WORK/pg && mkdir "$DIR" && CFG=$DIR/latchkey.yaml
write_config "$CFG" postgresql
expect_exit 5 lk user list
expect_error FailedOperation.Storage
err_has_str "$PG_DIR:$PG_PORT/lk_store"
err_has_str "latchkey init"
expect_exit 0 lk init
expect_exit 0 lk init # a current schema: left alone
[ "$(pg_sql lk_store 'SELECT version FROM latchkey_schema')" = 1 ] || fail "schema version is not 1"
expect_exit 0 lk user add 10
pg_sql lk_store 'UPDATE latchkey_schema SET version = 99'
expect_exit 5 lk user list
err_has_str "schema version 99 is newer"
expect_exit 5 lk init
pg_sql lk_store 'UPDATE latchkey_schema SET version = 1'
expect_exit 0 lk user show 10

# a password in the conninfo is refused, and not repeated
PG_STORE_CONNINFO="$PG_STORE_CONNINFO password=hunter2-secret"
write_config "$CFG" postgresql
expect_exit 4 lk user list
err_has_str "passfile"
err_lacks_str hunter2
PG_STORE_CONNINFO=${PG_STORE_CONNINFO% password=*}
write_config "$CFG" postgresql
note "schema and conninfo ok"

# ---- two processes race to add a key to a user holding one: never three
ROUNDS=${LK_PG_RACE_ROUNDS:-25}
i=0
while [ $i -lt $ROUNDS ]; do
    i=$((i + 1))
    uin=$((1000 + i))
    expect_exit 0 lk user add $uin
    expect_exit 0 lk key create $uin
    # both start from the same go file, so they reach the store together
    ( while [ ! -e "$WORK/go$i" ]; do :; done; r=0; lk key create $uin >/dev/null 2>&1 || r=$?; echo $r >"$WORK/a$i" ) &
    ( while [ ! -e "$WORK/go$i" ]; do :; done; r=0; lk key create $uin >/dev/null 2>&1 || r=$?; echo $r >"$WORK/b$i" ) &
    : >"$WORK/go$i"
    wait
    n=$(pg_sql lk_store "SELECT count(*) FROM latchkey_kv WHERE key LIKE 'uk/$(printf %020d $uin)/%'")
    [ "$n" = 2 ] || fail "round $i: user $uin has $n access keys"
    ra=$(cat "$WORK/a$i") rb=$(cat "$WORK/b$i")
    [ "$ra$rb" = 01 ] || [ "$ra$rb" = 10 ] || fail "round $i: exits $ra and $rb, expected one 0 and one 1 (over limit)"
done
note "$ROUNDS races: never three keys"

# ---- the server goes away and comes back under a running process
LK_PG_STOP=". '$S/tests/pg/lib.sh'; pg_stop_server fast"
LK_PG_START=". '$S/tests/pg/lib.sh'; pg_start_server"
export LK_PG_STOP LK_PG_START PG_BIN
"$B/tests/pg/outage" "$CFG" || fail "outage: see above"
# and the tool's own report while it is down: one line, exit 5
pg_stop_server fast
expect_exit 5 lk user list
expect_error FailedOperation.Storage
err_has_str "$PG_DIR:$PG_PORT/lk_store"
[ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ] || fail "the error is not one line"
pg_start_server
expect_exit 0 lk user show 10
note "outage ok"

# ---- store copy: LMDB on one machine -> PostgreSQL for the fleet
A=$WORK/lmdb.yaml
write_config "$A" lmdb "$WORK/a.mdb"
CFG=$A
expect_exit 0 lk init
expect_exit 0 lk user add 500
new_key 500
expect_exit_in "$SK" 0 lk verify "$SID"
PG_STORE_CONNINFO=$(pg_new_db lk_copy)
CFG=$WORK/copy.yaml
write_config "$CFG" postgresql
expect_exit 0 lk init
expect_exit 0 "$LATCHKEY" store copy --from "$A" --to "$CFG"
expect_exit_in "$SK" 0 lk verify "$SID"
expect_exit 0 lk key disable "$SID"
expect_exit_in "$SK" 3 lk verify "$SID"
expect_exit 2 "$LATCHKEY" store copy --from "$A" --to "$CFG"
note "store copy ok"
