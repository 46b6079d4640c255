#!/bin/sh
# bench/manage.sh — latchkeyd's management API figures (make bench, or make
# bench-manage): ListAccessKeys through the API with keep-alive from 4
# client threads (rate, p50, p99), and CreateAccessKey (one Argon2id hash
# each, the default cost t=2, 4 MiB). The API limits each caller to 20
# reads and 5 changes per second, so the load comes from N sub-users granted
# manage (BENCH_MANAGE_CALLERS, default 2048), each thread cycling through
# its share. Plain HTTP on 127.0.0.1. Prints figures; timing never fails.
set -eu
B=${LK_BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)}
SECS=${BENCH_MANAGE_SECONDS:-3}
N=${BENCH_MANAGE_CALLERS:-2048}
[ "${LK_HAVE_HTTP:-yes}" = yes ] || { echo "SKIP manage bench: latchkeyd is built without HTTP"; exit 77; }
W=$(mktemp -d "${TMPDIR:-/tmp}/lk-bench-manage.XXXXXX")
PID=
trap '[ -z "$PID" ] || kill -9 $PID 2>/dev/null; rm -rf "$W"' EXIT
PORT=$((23000 + $$ % 5000))
cat >"$W/lk.yaml" <<CFG
store: {backend: lmdb, path: store.mdb}
hash: {opslimit: 2, memlimit_kib: 4096}
limits: {keys_per_user: 2}
daemon:
  socket: lkd.sock
  argon2_workers: 2
  argon2_queue: 1024
  throttle_failures: 0
  manage:
    listen: "127.0.0.1:$PORT"
    threads: ${BENCH_MANAGE_THREADS:-2}
CFG
"$B/latchkey" --config "$W/lk.yaml" init >/dev/null
umask 077
"$B/bench/manage_bench" setup "$W/lk.yaml" "$N" "$W/callers"
"$B/latchkeyd" --config "$W/lk.yaml" 2>"$W/log" &
PID=$!
i=0
until grep -q 'serving the management API' "$W/log"; do
    i=$((i + 1))
    [ $i -lt 400 ] && kill -0 $PID 2>/dev/null || { echo "manage bench: latchkeyd did not start:"; cat "$W/log"; exit 1; }
    sleep 0.05
done
echo "latchkeyd management API, plain HTTP on 127.0.0.1 ($SECS s; $(nproc) cores; service: ${BENCH_MANAGE_THREADS:-2} threads; $N callers; load average $(cut -d' ' -f1-3 /proc/loadavg))"
"$B/bench/manage_bench" list "http://127.0.0.1:$PORT/" "$W/callers" 4 "$SECS"
"$B/bench/manage_bench" list "http://127.0.0.1:$PORT/" "$W/callers" 1 "$SECS" | tail -n +2
"$B/bench/manage_bench" create "http://127.0.0.1:$PORT/" "$W/callers" 4 256
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM $PID
wait $PID || :
PID=
