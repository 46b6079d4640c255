#!/bin/sh
# An LMDB store stays readable while a writer is slow to finish its commit.
# Under load (test_fork, issue 19) the meta page's sync took over a second,
# and a process opening the store meanwhile refused it as "replaced"
# (lock_matches_data waited one second, whoever was writing). Here
# tests/reliability/meta_stall holds a writer (`lk user add`) just after its
# meta page is written, before the lock file learns the txn; a reader
# (`lk user list`) then opens the store, and the writer is let go once the
# reader has either finished or waited well past that second. The reader
# must succeed and see the new user; so must the writer.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

STALL=$LK_BUILDDIR/tests/reliability/.libs/meta_stall.so
[ -f "$STALL" ] || fail "$STALL not built"
[ "$LK_OWN_BUILD" = 1 ] || skip "runs only on the build's own latchkey"
LD_PRELOAD=$STALL "$LATCHKEY" --version >/dev/null 2>&1 || skip "cannot preload $STALL here"

BACKEND=lmdb
setup_store lmdb
expect_exit 0 lk user add 100001
SD=$WORK/stall
mkdir "$SD"
# wait_for FILE WHAT: poll for FILE, 60 s at most
wait_for() {
    _i=0
    until [ -e "$1" ]; do
        _i=$((_i + 1))
        [ $_i -lt 600 ] || fail "$2 in 60 s"
        sleep 0.1
    done
}

STALL_DIR=$SD LD_PRELOAD=$STALL "$LATCHKEY" --config "$CFG" user add 100002 >"$WORK/cap/w.out" 2>"$WORK/cap/w.err" &
W=$!
wait_for "$SD/stalled" "the writer did not reach its meta page"
"$LATCHKEY" --config "$CFG" user list >"$WORK/cap/r.out" 2>"$WORK/cap/r.err" &
R=$!
# let go when the reader is done, or 3 s on (three times what the old wait
# allowed); the reader's verdict decides, not this span
_i=0
while kill -0 "$R" 2>/dev/null && [ $_i -lt 30 ]; do
    _i=$((_i + 1))
    sleep 0.1
done
touch "$SD/go"
RR=0
wait "$R" || RR=$?
WR=0
wait "$W" || WR=$?
[ "$WR" = 0 ] || fail "the held writer failed: exit $WR: $(cat "$WORK/cap/w.err")"
[ "$RR" = 0 ] || fail "a reader opening the store during a slow commit failed: exit $RR: $(cat "$WORK/cap/r.err")"
grep -q 100002 "$WORK/cap/r.out" || fail "the reader did not see the user the slow commit added: $(cat "$WORK/cap/r.out")"
note "a reader opening the store while a commit's meta write was held ${_i}00 ms waited for it and read the new user"
