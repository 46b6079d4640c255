#!/usr/bin/env bash
# tests/ci/fuzz.sh [BUILDDIR] — build the libFuzzer targets (`make fuzz`)
# and run each for FUZZ_SECONDS (default 60) on a copy of its seed corpus
# (tests/fuzz/corpus/<target>/). Fails on any crash, sanitizer report,
# broken invariant, leak, timeout (FUZZ_TIMEOUT seconds for one input,
# default 10) or out-of-memory; the input that did it is kept under
# FUZZ_ARTIFACTS (default: a scratch dir, printed) and shown as hex.
# Prints the executions per target.
#
# FUZZ_TARGETS (default: keys config flatfile ip record proto http scan manage import), FUZZ_JOBS: run
# that many targets at once (default 1; each target is single-process).
# FUZZ_MERGE=1: merge new coverage back into the checked-in corpora
# (for a developer, never in CI).
set -uo pipefail

B=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
SRC=${LK_SRCDIR:-$B}
SECONDS_EACH=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-keys config flatfile ip record proto http scan manage import}
ART=${FUZZ_ARTIFACTS:-$(mktemp -d "${TMPDIR:-/tmp}/lk-fuzz.XXXXXX")}
mkdir -p "$ART"

echo "fuzz: building (make fuzz)"
if ! (cd "$B" && make fuzz >"$ART/build.log" 2>&1); then
    tail -40 "$ART/build.log"
    echo "fuzz: build failed" >&2
    exit 1
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

run_one() {
    local t=$1 dir=$ART/$1
    mkdir -p "$dir/corpus" "$dir/crashes"
    cp "$SRC/tests/fuzz/corpus/$t"/* "$dir/corpus/" 2>/dev/null || :
    local dict=()
    [ -f "$SRC/tests/fuzz/fuzz.dict.$t" ] && dict=(-dict="$SRC/tests/fuzz/fuzz.dict.$t")
    local rc=0
    (cd "$dir" && timeout $((SECONDS_EACH + 300)) "$B/tests/fuzz/bin/fuzz_$t" "${dict[@]}" \
        -max_total_time="$SECONDS_EACH" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$dir/crashes/" corpus >"$dir/log" 2>&1) || rc=$?
    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
    local cov
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$dir/log" | tail -1)
    if [ "$rc" != 0 ] || [ -n "$(ls -A "$dir/crashes")" ]; then
        echo "fuzz: FAIL $t (exit $rc) after ${execs:-?} executions"
        grep -E -A30 'ERROR: |invariant failed|runtime error|==[0-9]+==' "$dir/log" | head -60
        for c in "$dir/crashes"/*; do
            [ -f "$c" ] || continue
            echo "fuzz: input $c:"
            xxd "$c" 2>/dev/null | head -20 || od -c "$c" | head -20
        done
        return 1
    fi
    echo "fuzz: ok   $t: ${execs:-?} executions in ${SECONDS_EACH} s ($cov, corpus $(ls "$dir/corpus" | wc -l) inputs)"
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
        "$B/tests/fuzz/bin/fuzz_$t" -merge=1 "$SRC/tests/fuzz/corpus/$t" "$dir/corpus" >/dev/null 2>&1
    fi
}

status=0
jobs_max=${FUZZ_JOBS:-1}
pids=()
for t in $TARGETS; do
    [ -x "$B/tests/fuzz/bin/fuzz_$t" ] || { echo "fuzz: no target fuzz_$t" >&2; status=1; continue; }
    if [ "$jobs_max" -gt 1 ]; then
        run_one "$t" >"$ART/$t.summary" 2>&1 &
        pids+=($!)
        if [ ${#pids[@]} -ge "$jobs_max" ]; then
            wait "${pids[0]}" || status=1
            pids=("${pids[@]:1}")
        fi
    else
        run_one "$t" || status=1
    fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ "$jobs_max" -le 1 ] || cat "$ART"/*.summary
[ "$status" = 0 ] && [ -z "${FUZZ_ARTIFACTS:-}" ] && rm -rf "$ART"
[ "$status" = 0 ] && echo "fuzz: all targets clean" || echo "fuzz: FAILED (artifacts in $ART)"
exit "$status"
