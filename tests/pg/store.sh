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
# init names the server and database (never an LMDB path), and what it did
out_has "^Store: *$PG_DIR:$PG_PORT/lk_store\$"
out_has "^Schema: *schema version 2, created\$"
out_lacks_str store.mdb
expect_exit 0 lk init # a current schema: left alone
out_has "^Schema: *schema version 2, already current\$"
out_has "^Store for: *$CFG\$"
out_lacks_str Created
out_lacks_str store.mdb
[ "$(pg_sql lk_store 'SELECT version FROM latchkey_schema')" = 2 ] || fail "schema version is not 2"
expect_exit 0 lk user add 10
pg_sql lk_store 'UPDATE latchkey_schema SET version = 99'
expect_exit 5 lk user list
err_has_str "schema version 99 is newer"
expect_exit 5 lk init
err_has_str "schema version 99 is newer"
pg_sql lk_store 'UPDATE latchkey_schema SET version = 2'
expect_exit 0 lk user show 10

# ---- a broken schema table: what is wrong, and init repairs what it can
pg_sql lk_store 'DELETE FROM latchkey_schema'
expect_exit 5 lk user show 10
err_has_str "table latchkey_schema has 0 rows, expected 1 (run \`latchkey init\` to repair it)"
expect_exit 0 lk init
out_has "^Schema: *schema version 2, repaired (table latchkey_schema had no row)\$"
expect_exit 0 lk user show 10
pg_sql lk_store 'INSERT INTO latchkey_schema VALUES (2)'
expect_exit 5 lk user show 10
err_has_str "table latchkey_schema has 2 rows, expected 1"
expect_exit 5 lk key create 10 # no write without the one row to lock
expect_exit 0 lk init
out_has "^Schema: *schema version 2, repaired (table latchkey_schema had 2 rows of version 2)\$"
[ "$(pg_sql lk_store 'SELECT count(*) FROM latchkey_schema')" = 1 ] || fail "init left the schema rows"
pg_sql lk_store 'INSERT INTO latchkey_schema VALUES (1)'
expect_exit 5 lk init
err_has_str "has 2 rows of different versions"
err_has_str "DELETE FROM latchkey_schema WHERE version <> N"
pg_sql lk_store 'DELETE FROM latchkey_schema WHERE version = 2'
# ---- a version 1 store (an older latchkey's) still works, and init upgrades it
expect_exit 0 lk key create 10
expect_exit 0 lk init
out_has "^Schema: *schema version 2, upgraded from version 1\$"
[ "$(pg_sql lk_store 'SELECT version FROM latchkey_schema')" = 2 ] || fail "init did not upgrade version 1"
expect_exit 0 lk user show 10
note "schema repaired and upgraded by init"

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

# ---- store copy --replace empties the target in one pass: the rows the
# server reads grow with the target's size, not with its square (before:
# 2000 rows were read again after each delete, 2 million in all; 1k rows
# took 0.9 s, 4k 21 s). Counted by the server's statistics, not timed.
pg_sql lk_copy "INSERT INTO latchkey_kv SELECT convert_to('zz/' || lpad(g::text, 8, '0'), 'UTF8'),
    convert_to(repeat('v', 200), 'UTF8') FROM generate_series(1, 2000) g"
rows_read() {
    pg_sql lk_copy "SELECT coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0) FROM pg_stat_user_tables
        WHERE relname = 'latchkey_kv'"
}
# a session's statistics reach the view when it ends
latchkey_sessions_gone() {
    pg_wait lk_copy "SELECT count(*) FROM pg_stat_activity WHERE datname = 'lk_copy' AND application_name = 'latchkey'" \
        0 "latchkey's sessions did not end"
}
latchkey_sessions_gone
before=$(rows_read)
expect_exit 0 "$LATCHKEY" store copy --from "$A" --to "$CFG" --replace
latchkey_sessions_gone
read=$(($(rows_read) - before))
[ "$(pg_sql lk_copy "SELECT count(*) FROM latchkey_kv WHERE key >= 'zz/'::bytea")" = 0 ] || fail "replace left rows"
expect_exit_in "$SK" 0 lk verify "$SID"
[ "$read" -lt 20000 ] || fail "store copy --replace of 2000 rows read $read rows (quadratic)"
note "store copy --replace of 2000 rows: $read rows read"

# ---- store copy --replace of a store whose log holds many entries of one
# second (an import writes them so): each source entry is placed in the
# target's log from memory, not by reads of the target (before: a read per
# entry and per taken sequence number of its second, 40 thousand rows for
# 300 entries, 7 s for 2,400 records), and an entry the target holds
# already is not logged again. Counted by the server's statistics.
CFG=$A
{ echo 'type,uin,name'; i=0; while [ $i -lt 300 ]; do echo "user,$((7000 + i)),"; i=$((i + 1)); done
  echo 'apikey,7000,bulk'; } >"$WORK/many.csv"
expect_exit 0 lk import "$WORK/many.csv" --secrets-out "$WORK/many.secrets"
AK=$(awk -F, '$2 == "apikey" {print $6}' "$WORK/many.secrets")
CFG=$WORK/copy.yaml
expect_exit 0 "$LATCHKEY" store copy --from "$A" --to "$CFG" --replace
out_has "^Users: *301$"
out_has "^ApiKeys: *1$"
out_has "^Replaced: *1 users, 1 access keys, 0 API keys, [0-9]* access records$"
audit_rows() { pg_sql lk_copy "SELECT count(*) FROM latchkey_kv WHERE key >= 'au/'::bytea AND key < 'au0'::bytea"; }
logged=$(audit_rows)
latchkey_sessions_gone
before=$(rows_read)
expect_exit 0 "$LATCHKEY" store copy --from "$A" --to "$CFG" --replace
latchkey_sessions_gone
read=$(($(rows_read) - before))
[ "$read" -lt 10000 ] || fail "store copy --replace of 300 entries of one second read $read rows"
[ "$(audit_rows)" -eq $((logged + 1)) ] || fail "a second replace logged the source's entries again"
expect_exit_in "$AK" 0 lk verify --apikey
expect_exit_in "$SK" 0 lk verify "$SID"
note "store copy --replace of an imported store: $read rows read"
