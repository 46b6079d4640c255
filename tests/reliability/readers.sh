#!/bin/bash
# readers.sh — audit (issue 8): idle processes cannot exhaust LMDB's reader
# slots. READERS_PROCS (300) verifier processes each open the store, verify
# once (a read txn) and then stay idle with the store open; a verification
# from a new process must still get a verdict. A process that kept a reader
# slot while idle would fill the table (126 slots by LMDB's default) and
# every later verification anywhere would fail with MDB_READERS_FULL.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/reliability/lib.sh"

HOLD=$RDIR/reader_hold
N=${READERS_PROCS:-300}
[ -x "$HOLD" ] || fail "$HOLD not built"

b=lmdb
dir=$WORK/$b
mkdir -p "$dir"
cfg=$dir/latchkey.yaml
write_config "$cfg" "$b" "$(store_file "$b" "$dir")" "cache: {entries: 0}"
lk() { "$LATCHKEY" --config "$cfg" "$@"; }
lk init >/dev/null || fail "init"
lk user add 1 >/dev/null || fail "user add"
# a well-formed SecretId that no longer exists: every verify reads the store
sid=$(lk --json key create 1 | sed -n 's/.*"AccessKeyId":"\([^"]*\)".*/\1/p')
[ ${#sid} = 36 ] || fail "key create"
lk key disable "$sid" >/dev/null && lk key delete "$sid" >/dev/null || fail "key disable/delete"

pids=()
stop_all() {
    [ ${#pids[@]} -gt 0 ] || return 0
    kill -TERM "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
    pids=()
}
CLEANUP_HOOKS+=(stop_all)

start=$(date +%s)
for i in $(seq 1 "$N"); do
    "$HOLD" "$cfg" "$sid" hold >>"$dir/held" 2>>"$dir/held.err" &
    pids+=($!)
done
# wait until every process has verified once (bounded)
for _ in $(seq 1 600); do
    [ "$(wc -l <"$dir/held")" -ge "$N" ] && break
    sleep 0.1
done
got=$(wc -l <"$dir/held")
[ "$got" -ge "$N" ] || fail "only $got of $N verifier processes reported within 60 s"
bad=$(grep -vc '^ok ' "$dir/held")
note "$N idle verifier processes started and verified in $(($(date +%s) - start)) s; $bad failed"
[ "$bad" = 0 ] || fail "$bad of $N verifier processes could not verify: $(grep -v '^ok ' "$dir/held" | sort | uniq -c | head -3)"

# with all of them idle, a new process still gets a verdict
out=$("$HOLD" "$cfg" "$sid" once) || fail "a new verifier failed with $N idle ones alive: $out"
note "new verifier: $out"
# and so does the CLI (an unknown key: exit 3, not a store error)
rc=0
printf 'LKSK0000000000000000000000000000000000000000\n' | lk verify "$sid" >/dev/null 2>"$dir/cli.err" || rc=$?
[ "$rc" = 3 ] || fail "latchkey verify with $N idle verifiers: exit $rc ($(cat "$dir/cli.err"))"

stop_all
note "all stopped after $(($(date +%s) - start)) s"
exit 0
