#!/usr/bin/env bash
# tests/ci/sanitize.sh [SRCDIR] — build a copy of the source tree with clang,
# ASan + UBSan (configure --enable-sanitizers) and run `make check` there.
# Any sanitizer report fails the run: the options below make ASan abort on
# the first error, LSan report leaks at exit, and UBSan halt.
#
# The source tree is usually configured in place, which rules out a VPATH
# build from it, so the files git knows about (tracked, plus untracked ones
# that are not ignored: work not yet committed is tested too) are copied to
# a scratch directory and built there. SRCDIR is never modified.
#
# Environment: SANITIZE_KEEP=1 keeps the scratch directory; SANITIZE_JOBS
# (default 2); SANITIZE_TESTS: the tests to run (default: all of make check);
# SANITIZE_CHECK_ENV: extra VAR=value words for `make check`.
set -euo pipefail

SRC=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
JOBS=${SANITIZE_JOBS:-2}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lk-sanitize.XXXXXX")
cleanup() {
    if [ "${SANITIZE_KEEP:-0}" = 1 ]; then echo "sanitize: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

command -v clang >/dev/null || { echo "sanitize: clang is not installed (apt-get install clang)" >&2; exit 1; }

echo "sanitize: copying $SRC to $WORK/src"
mkdir -p "$WORK/src"
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # tracked and untracked-but-not-ignored files that exist (a deleted
    # tracked file is skipped)
    (cd "$SRC" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -xf - -C "$WORK/src"
else
    # not a git checkout: everything but build products
    tar -C "$SRC" -cf - --exclude='*.o' --exclude='*.lo' --exclude='*.la' --exclude=.libs --exclude=.deps \
        --exclude=autom4te.cache --exclude=config.status --exclude=config.log --exclude=Makefile \
        --exclude=config.h --exclude=libtool --exclude='*.log' --exclude='*.trs' --exclude=tests/fuzz/bin . |
        tar -xf - -C "$WORK/src"
fi
cd "$WORK/src"

# ASan: stop at the first error, report leaks at exit. libsodium's guarded
# allocations (sodium_malloc: mmap + guard pages + mlock) are not malloc and
# are invisible to ASan, which is fine. (No strict_string_checks: it makes
# strndup(v, n) read past n to a NUL, which faults on LMDB's mapped values.)
#
# Plugins run inside hosts that are not built with ASan (mosquitto,
# pamtester): the instrumented modules link the shared ASan runtime
# (-shared-libasan, with an rpath to it), and verify_asan_link_order=0 lets
# it load after the host. pam_wrapper dlopens libpam with RTLD_DEEPBIND,
# which ASan refuses; it skips DEEPBIND when UID_WRAPPER_DISABLE_DEEPBIND is
# set (the name pam_wrapper 1.1 reads; PAM_WRAPPER_... for later ones).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:verify_asan_link_order=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export UID_WRAPPER_DISABLE_DEEPBIND=1 PAM_WRAPPER_DISABLE_DEEPBIND=1
RT=$(dirname "$(clang -print-file-name=libclang_rt.asan-x86_64.so)")
[ -f "$RT/libclang_rt.asan-x86_64.so" ] ||
    { echo "sanitize: no shared ASan runtime in $RT (apt-get install libclang-rt-14-dev)" >&2; exit 1; }

echo "sanitize: autoreconf + configure (clang, --enable-werror --enable-sanitizers)"
autoreconf -fi >"$WORK/autoreconf.log" 2>&1 || { cat "$WORK/autoreconf.log"; exit 1; }
./configure --enable-werror --enable-sanitizers CC=clang CFLAGS="-g -O1" \
    LDFLAGS="-shared-libasan -L$RT -Wl,-rpath,$RT" LIBS="-lclang_rt.asan-x86_64" >"$WORK/configure.log" 2>&1 ||
    { tail -50 "$WORK/configure.log"; exit 1; }

echo "sanitize: make -j$JOBS"
make -j"$JOBS" >"$WORK/build.log" 2>&1 || { tail -80 "$WORK/build.log"; exit 1; }

echo "sanitize: make -j$JOBS check"
status=0
if [ -n "${SANITIZE_TESTS:-}" ]; then
    # shellcheck disable=SC2086
    make -j"$JOBS" check TESTS="$(echo $SANITIZE_TESTS)" ${SANITIZE_CHECK_ENV:-} >"$WORK/check.log" 2>&1 || status=$?
else
    # shellcheck disable=SC2086
    make -j"$JOBS" check ${SANITIZE_CHECK_ENV:-} >"$WORK/check.log" 2>&1 || status=$?
fi
sed -n '/^===/,$p' "$WORK/check.log" | grep -E '^(# |PASS|FAIL|ERROR|SKIP|XFAIL|XPASS)' | tail -60 || :

# A report can hide in a test that still "passed" (a child process that
# died, output a script ignored): scan every test log too.
reports=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)Sanitizer' \
    $(find . -name '*.log' -not -name config.log -not -path './autom4te.cache/*') 2>/dev/null || :)
if [ -n "$reports" ]; then
    echo "sanitize: sanitizer reports in:"
    for f in $reports; do
        [ "$f" != ./test-suite.log ] || continue
        echo "----- $f"
        grep -E -B2 -A25 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f" | head -60
    done
    status=1
fi
if [ "$status" != 0 ]; then
    # the failing tests' own lines, not the whole log
    [ -f test-suite.log ] && grep -E '^(FAIL|ERROR)' test-suite.log | head -60
    echo "sanitize: FAILED"
    exit 1
fi
echo "sanitize: make check passed under ASan+UBSan with no report"
