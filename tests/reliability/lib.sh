# tests/reliability/lib.sh — sourced (by bash) by the reliability scripts.
# Environment: LK_BUILDDIR, LK_SRCDIR (set by `make check`; default: this
# source tree), LATCHKEY (the CLI to test; default $LK_BUILDDIR/latchkey,
# a wrapper such as tests/ci/valgrind.sh's may stand in).

LK_SRCDIR=${LK_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
LK_BUILDDIR=${LK_BUILDDIR:-$LK_SRCDIR}
LATCHKEY=${LATCHKEY:-$LK_BUILDDIR/latchkey}
. "$LK_SRCDIR/tests/libtool.sh" # LATCHKEY: the program behind the wrapper
RDIR=$LK_BUILDDIR/tests/reliability
TZ=UTC
export TZ
unset LATCHKEY_CONFIG || :

TESTNAME=$(basename "$0" .sh)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lk-$TESTNAME.XXXXXX") || exit 99
CLEANUP_HOOKS=()
cleanup() {
    local h
    for h in "${CLEANUP_HOOKS[@]}"; do eval "$h" || :; done
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        echo "# kept $WORK" >&2
    else
        chmod -R u+rwx "$WORK" 2>/dev/null || :
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "FAIL [$TESTNAME]: $*" >&2
    exit 1
}
skip() {
    echo "SKIP [$TESTNAME]: $*"
    exit 77
}
note() { echo "# [$TESTNAME] $*"; }

# write_config FILE BACKEND STORE [EXTRA-YAML...]: fast Argon2id (tests only).
write_config() {
    local f=$1 b=$2 s=$3
    shift 3
    {
        echo "store:"
        echo "  backend: $b"
        echo "  path: $s"
        echo "hash: {opslimit: 1, memlimit_kib: 8}"
        for l in "$@"; do echo "$l"; done
    } >"$f"
}

# store_file BACKEND DIR: the store file name a test uses.
store_file() {
    case $1 in
    flatfile) echo "$2/store.txt" ;;
    *) echo "$2/store.mdb" ;;
    esac
}
