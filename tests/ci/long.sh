#!/usr/bin/env bash
# tests/ci/long.sh [BUILDDIR] — the reliability tests at full length (make
# check runs short versions of them):
#   crash safety: CRASH_ROUNDS (default 200) SIGKILLs per backend;
#   concurrency:  CONC_SECONDS (default 20) per backend, CONC_VERIFIERS
#                 (default 3) verifier processes racing one writer.
# The tree must be built with its check programs (`make check` does that).
set -euo pipefail
B=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
SRC=${LK_SRCDIR:-$B}
export LK_BUILDDIR=$B LK_SRCDIR=$SRC TZ=UTC
(cd "$B" && make tests/reliability/crash_driver tests/reliability/concurrency >/dev/null)

start=$(date +%s)
echo "long: crash safety, ${CRASH_ROUNDS:-200} kills per backend"
CRASH_ROUNDS=${CRASH_ROUNDS:-200} bash "$SRC/tests/reliability/crash.sh"
echo "long: crash safety done in $(($(date +%s) - start)) s"

start=$(date +%s)
echo "long: concurrency, ${CONC_SECONDS:-20} s per backend, ${CONC_VERIFIERS:-3} verifiers"
CONC_SECONDS=${CONC_SECONDS:-20} CONC_VERIFIERS=${CONC_VERIFIERS:-3} bash "$SRC/tests/reliability/concurrency.sh"
echo "long: concurrency done in $(($(date +%s) - start)) s"
