#!/bin/bash
# fleet.sh — doc/postgresql-fleet.md's recipe, run as written on a private
# cluster that asks every role for a password (SCRAM), its superuser
# `postgres` reached through libpq's environment as the page says: step 1's
# block makes the role, the database and the passfile with no prompt and no
# sudo; step 2's configuration (sslmode=verify-full and a root certificate
# that does not exist: libpq uses no TLS on a unix socket) is the tool's;
# step 3's `latchkey init`, then a key that verifies. Only the server's
# address changes (the cluster's socket directory and port for db.example
# and 5432) and /etc/latchkey/ (a scratch directory). The password is
# proven to be the passfile's (a wrong one is refused), and another role
# cannot connect to the database (the REVOKE).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # SH_LOG_COMPILER may be a POSIX sh
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"
PG_SUPER=postgres
PG_AUTH=scram-sha-256
. "$LK_SRCDIR/tests/pg/lib.sh"
need_cli
pg_start

PAGE=$LK_SRCDIR/doc/postgresql-fleet.md
# block N LANG: the page's Nth ```LANG block, without its list indent
block() {
    awk -v want="$1" -v fence="^ *\`\`\`$2\$" '
        !on && $0 ~ fence && ++n == want { on = 1; match($0, /^ */); ind = RLENGTH; next }
        on && /^ *```$/ { exit }
        on { print substr($0, ind + 1) }' "$PAGE"
}
ETC=$TMP/etc
mkdir -p "$ETC"
at() { sed -e "s|db\\.example|$PG_DIR|g" -e "s|5432|$PG_PORT|g" -e "s|/etc/latchkey/|$ETC/|g"; }
STEP1=$(block 1 sh)
STEP2=$(block 1 yaml)
check "step 1 is a shell block" yes "$(printf '%s' "$STEP1" | grep -q 'CREATE ROLE latchkey' && echo yes || echo no)"
check "step 1 needs no sudo and no prompt" "" "$(printf '%s\n' "$STEP1" | grep -E 'sudo|--pwprompt|createuser' || :)"
check "step 2 is the configuration" yes "$(printf '%s' "$STEP2" | grep -q 'sslmode=verify-full' && echo yes || echo no)"

# ---- step 1, where psql reaches the server as its superuser
out=$(cd "$ETC" && PATH=$PG_BIN:$PATH PGHOST=$PG_DIR PGPORT=$PG_PORT PGUSER=postgres \
    sh -e -c "$(at <<<"$STEP1")" 2>&1)
check "step 1 runs" "0|" "$?|$out"
check "step 1 wrote the passfile, 0600" "600" "$(stat -c %a "$ETC/pgpass" 2>&1)"

# ---- step 2: the configuration on a machine; step 3: init, then use it
at <<<"$STEP2" >"$ETC/latchkey.yaml"
CONF=$ETC/latchkey.yaml
out=$(lk init 2>&1)
check "step 3: latchkey init" 0 "$?"
check_match "init names the server, never the conninfo" "Store: +$PG_DIR:$PG_PORT/latchkey" "$out"
new_user 100001
new_key 100001
out=$(printf '%s\n' "$KEY_SECRET" | lk verify "$KEY_ID" 2>&1)
check "a key made through the recipe's store verifies" "0" "$?"

# ---- the passfile's password is the one checked
sed 's/:[^:]*$/:wrong/' "$ETC/pgpass" >"$ETC/pgpass.wrong"
chmod 600 "$ETC/pgpass.wrong"
sed "s|passfile=$ETC/pgpass |passfile=$ETC/pgpass.wrong |" "$CONF" >"$ETC/wrong.yaml"
chmod 600 "$ETC/wrong.yaml"
out=$(timeout 20 "$LK" --config "$ETC/wrong.yaml" user show 100001 2>&1)
check "a wrong password in the passfile is refused (exit 5)" 5 "$?"
check_match "... as a store error" "FailedOperation.Storage" "$out"

# ---- step 1's REVOKE: another role may not connect to the database
pg_sql postgres "CREATE ROLE intruder LOGIN PASSWORD 'intruder'" >/dev/null
out=$(PGPASSWORD=intruder "$PG_BIN/psql" -X -At -h "$PG_DIR" -p "$PG_PORT" -U intruder -d latchkey \
    -c 'SELECT 1' 2>&1)
check_match "another role is refused the database" 'permission denied for database "latchkey"' "$out"

finish
