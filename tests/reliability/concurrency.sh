#!/bin/sh
# concurrency.sh — verifier processes racing a writer, on each backend.
# See concurrency.c. CONC_SECONDS (per backend; default 4), CONC_VERIFIERS
# (default 3), CONC_BACKENDS (default "lmdb flatfile"), CONC_SEED.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/reliability/lib.sh"

DRIVER=$RDIR/concurrency
[ -x "$DRIVER" ] || fail "$DRIVER not built"
for b in ${CONC_BACKENDS:-lmdb flatfile}; do
    dir=$WORK/$b
    mkdir -p "$dir/logs"
    cfg=$dir/latchkey.yaml
    write_config "$cfg" "$b" "$(store_file "$b" "$dir")" \
        "limits: {keys_per_user: 100, apikeys_per_account: 100}" "records: {flush_interval_ms: 200}"
    timeout $(( ${CONC_SECONDS:-4} + 120 )) "$DRIVER" "$cfg" "${CONC_SECONDS:-4}" "${CONC_VERIFIERS:-3}" "$dir/logs" ||
        fail "$b: concurrency check failed"
done
exit 0
