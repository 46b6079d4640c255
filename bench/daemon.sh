#!/bin/sh
# bench/daemon.sh — latchkeyd figures (make bench, or make bench-daemon):
# warm verifies through the socket from 1 and 4 client threads (rate,
# p50, p99), then the same while two more clients keep the Argon2id pool
# saturated with wrong secrets (the default hash cost: t=2, 4 MiB); and
# refusals of unknown and malformed SecretIds through the socket.
# Prints figures; timing never fails the run.
set -eu
B=${LK_BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)}
SECS=${BENCH_DAEMON_SECONDS:-3}
W=$(mktemp -d "${TMPDIR:-/tmp}/lk-bench-daemon.XXXXXX")
PID=
trap '[ -z "$PID" ] || kill -9 $PID 2>/dev/null; rm -rf "$W"' EXIT
cat >"$W/lk.yaml" <<CFG
store: {backend: lmdb, path: store.mdb}
hash: {opslimit: 2, memlimit_kib: 4096}
limits: {keys_per_user: 3}
daemon:
  socket: lkd.sock
  workers: ${BENCH_DAEMON_WORKERS:-2}
  argon2_workers: 2
  argon2_queue: 64
  throttle_failures: 0
CFG
lk() { "$B/latchkey" --config "$W/lk.yaml" "$@"; }
lk init >/dev/null # only init creates a store
lk user add 100 >/dev/null
key() { lk --json key create 100 | sed 's/.*"AccessKeyId":"\([^"]*\)","SecretAccessKey":"\([^"]*\)".*/\1 \2/'; }
set -- $(key); SID=$1 SK=$2
set -- $(key); SID2=$1 SK2=$2
set -- $(key); SID3=$1 # deleted below: a well-formed SecretId that does not exist
lk key disable "$SID3" >/dev/null
lk key delete "$SID3" >/dev/null
"$B/latchkeyd" --config "$W/lk.yaml" 2>"$W/log" &
PID=$!
i=0
until [ -S "$W/lkd.sock" ]; do i=$((i + 1)); [ $i -lt 200 ] || { cat "$W/log"; exit 1; }; sleep 0.05; done
echo "latchkeyd: warm verify through the socket ($SECS s each; $(nproc) cores; service: ${BENCH_DAEMON_WORKERS:-2} workers)"
rate() { sed -n 's/^threads [0-9]*: \([0-9]*\) .*/\1/p'; }
v1=$(printf '%s\n' "$SK" | "$B/tests/daemon/lkd_driver" bench "$W/lkd.sock" "$SID" 1 "$SECS")
echo "$v1"
v4=$(printf '%s\n' "$SK" | "$B/tests/daemon/lkd_driver" bench "$W/lkd.sock" "$SID" 4 "$SECS")
echo "$v4"
# For scale, in the same run: a bare UNIX-socket echo between two processes
# (verify-sized frames, one in flight per thread), which no socket service
# can beat; the ratio is what latchkeyd's own work and wake-ups cost.
echo "bare UNIX socket round trips (the transport's floor, same frame sizes)"
f1=$("$B/tests/daemon/lkd_driver" floor 1 "$SECS")
echo "$f1"
f4=$("$B/tests/daemon/lkd_driver" floor 4 "$SECS")
echo "$f4"
awk -v a="$(echo "$v1" | rate)" -v b="$(echo "$f1" | rate)" -v c="$(echo "$v4" | rate)" -v d="$(echo "$f4" | rate)" \
    'BEGIN { if (b > 0 && d > 0) printf "latchkeyd / bare socket: 1 thread %.0f%%, 4 threads %.0f%%\n", 100 * a / b, 100 * c / d }'
echo "latchkeyd: refusals through the socket (no Argon2id): unknown SecretId, malformed SecretId"
printf '%s\n' "$SK" | "$B/tests/daemon/lkd_driver" bench "$W/lkd.sock" "$SID3" 4 "$SECS"
printf '%s\n' "$SK" | "$B/tests/daemon/lkd_driver" bench "$W/lkd.sock" "AKIDnot-a-secret-id" 4 "$SECS"
echo "latchkeyd: warm verify while 2 clients saturate the Argon2id pool (t=2, 4 MiB) with wrong secrets"
printf '%s\n%s\n' "$SK" "$SK" | "$B/tests/daemon/lkd_driver" bench "$W/lkd.sock" "$SID" 1 "$SECS" "$SID2"
printf '%s\n%s\n' "$SK" "$SK" | "$B/tests/daemon/lkd_driver" bench "$W/lkd.sock" "$SID" 4 "$SECS" "$SID2"
printf 'service counters: '
"$B/latchkey" --socket "$W/lkd.sock" stats | tr '\n' ' '
echo
kill -TERM $PID
wait $PID || :
PID=
