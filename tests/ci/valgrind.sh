#!/usr/bin/env bash
# tests/ci/valgrind.sh [BUILDDIR] — the end-to-end shell tests with every
# run of the `latchkey` binary under valgrind (memcheck). Fails on any error
# valgrind reports (invalid reads/writes, uninitialised values, fd misuse)
# and on definite leaks, and on any test failure.
#
# How: tests/e2e/lib.sh and tests/reliability/lib.sh take the binary to run
# from $LATCHKEY. A wrapper script named `latchkey` in a scratch directory
# execs valgrind on the real binary behind libtool's wrapper
# (BUILDDIR/.libs/latchkey, with LD_LIBRARY_PATH at BUILDDIR/.libs), one log
# per process. The tree must be built (`make` and `make check` programs).
#
# Environment: VALGRIND_TESTS (default: every tests/e2e/*.sh but lib.sh,
# plus tests/reliability/hostile.sh), VALGRIND_JOBS (scripts at once;
# default: the number of cores), VALGRIND_KEEP=1 keeps the logs.
set -uo pipefail

B=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
SRC=${LK_SRCDIR:-$B}
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)" >&2; exit 1; }
REAL=$B/.libs/latchkey
[ -x "$REAL" ] || REAL=$B/latchkey
[ -x "$REAL" ] || { echo "valgrind: $B/latchkey is not built" >&2; exit 1; }
# libtool's wrapper is a shell script; valgrind must see the ELF binary
head -c 4 "$REAL" | grep -q ELF || { echo "valgrind: $REAL is not an ELF binary" >&2; exit 1; }
(cd "$B" && make -q tests/reliability/crash_driver >/dev/null 2>&1) ||
    (cd "$B" && make tests/reliability/crash_driver >/dev/null) || { echo "valgrind: cannot build crash_driver" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lk-valgrind.XXXXXX")
cleanup() { if [ "${VALGRIND_KEEP:-0}" = 1 ]; then echo "valgrind: kept $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
mkdir -p "$WORK/bin" "$WORK/logs"

cat >"$WORK/bin/latchkey" <<EOF
#!/bin/sh
LD_LIBRARY_PATH="$B/.libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
exec valgrind -q --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \\
    --track-fds=no --error-exitcode=99 --log-file="$WORK/logs/vg.%p.log" "$REAL" "\$@"
EOF
chmod +x "$WORK/bin/latchkey"

if [ -n "${VALGRIND_TESTS:-}" ]; then
    tests=$VALGRIND_TESTS
else
    tests=$(cd "$SRC" && ls tests/e2e/*.sh | grep -v '/lib\.sh$'; echo tests/reliability/hostile.sh)
fi

# One script per core at a time (valgrind runs a program on one core): the
# slowest scripts start first, so the others fill in around them.
JOBS=${VALGRIND_JOBS:-$(nproc)}
SLOWEST="tests/e2e/secrets.sh tests/e2e/keylife.sh tests/e2e/limits.sh"
slow_first() {
    local t
    for t in $SLOWEST; do
        case " $(echo $tests) " in *" $t "*) echo "$t" ;; esac
    done
    for t in $tests; do
        case " $SLOWEST " in *" $t "*) ;; *) echo "$t" ;; esac
    done
}

# run_one TEST: runs it, then prints its verdict; exit 1 on a failure.
run_one() {
    local t=$1 start rc=0 out
    out=$WORK/logs/$(basename "$t").out
    start=$(date +%s)
    LK_BUILDDIR=$B LK_SRCDIR=$SRC LATCHKEY=$WORK/bin/latchkey TZ=UTC \
        timeout 1800 bash "$SRC/$t" >"$out" 2>&1 || rc=$?
    case $rc in
    0) echo "valgrind: PASS $t ($(($(date +%s) - start)) s)" ;;
    77) echo "valgrind: SKIP $t" ;;
    *)
        { echo "valgrind: FAIL $t (exit $rc)"; tail -40 "$out"; } | cat
        return 1
        ;;
    esac
}

status=0
ran=0
running=0
for t in $(slow_first); do
    [ -f "$SRC/$t" ] || { echo "valgrind: no test $t" >&2; status=1; continue; }
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || status=1
        running=$((running - 1))
    fi
    run_one "$t" &
    running=$((running + 1))
    ran=$((ran + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || status=1
    running=$((running - 1))
done

runs=$(ls "$WORK/logs"/vg.*.log 2>/dev/null | wc -l)
errors=0
for f in "$WORK/logs"/vg.*.log; do
    [ -s "$f" ] || continue
    errors=$((errors + 1))
    if [ "$errors" -le 10 ]; then
        echo "----- $f"
        head -60 "$f"
    fi
done
echo "valgrind: $ran test scripts, $runs latchkey runs under valgrind, $errors with a report"
[ "$runs" -gt 0 ] || { echo "valgrind: the wrapper was never used" >&2; status=1; }
[ "$errors" = 0 ] || status=1
exit "$status"
