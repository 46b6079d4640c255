# tests/plugins/common.sh — sourced by the plugin tests (bash).
# Sets up a scratch directory with a fast-hash config and helpers around the
# admin CLI. Never prints a secret except where a test deliberately feeds one
# to a host through stdin.

: "${LK_BUILDDIR:?LK_BUILDDIR must name the build directory}"
: "${LK_SRCDIR:?LK_SRCDIR must name the source directory}"
export TZ=UTC

LK=$LK_BUILDDIR/latchkey
# Modules link liblatchkey.so, which is not installed while testing.
export LD_LIBRARY_PATH="$LK_BUILDDIR/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lk-plugins.XXXXXX") || exit 99
CONF=$TMP/latchkey.yaml
FAILS=0
CHECKS=0
CLEANUP_HOOKS=()

cleanup() {
    local h
    for h in "${CLEANUP_HOOKS[@]}"; do eval "$h"; done
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "ERROR: $*" >&2; exit 99; }

# check NAME EXPECTED ACTUAL
check() {
    CHECKS=$((CHECKS + 1))
    if [ "$2" = "$3" ]; then
        echo "ok   $1"
    else
        echo "FAIL $1"
        echo "     expected: $(printf '%s' "$2" | tr '\n' '|')"
        echo "     actual:   $(printf '%s' "$3" | tr '\n' '|')"
        FAILS=$((FAILS + 1))
    fi
}

# check_match NAME REGEX ACTUAL (extended regex, whole text on one line)
check_match() {
    CHECKS=$((CHECKS + 1))
    local flat
    flat=$(printf '%s' "$3" | tr '\n' '|')
    if printf '%s' "$flat" | grep -Eq -- "$2"; then
        echo "ok   $1"
    else
        echo "FAIL $1"
        echo "     expected to match: $2"
        echo "     actual: $flat"
        FAILS=$((FAILS + 1))
    fi
}

finish() {
    echo "$CHECKS checks, $FAILS failed"
    [ "$FAILS" -eq 0 ] || exit 1
    exit 0
}

write_config() { # [CONFIG_PATH [STORE_PATH]]
    local conf=${1:-$CONF} store=${2:-$TMP/store.mdb}
    cat >"$conf" <<EOF
store: {backend: lmdb, path: $store}
hash: {opslimit: 1, memlimit_kib: 8}
EOF
    chmod 600 "$conf"
}

lk() { timeout 20 "$LK" --config "$CONF" "$@"; }

# JSON field from the CLI's --json output (no jq on CI): json_field NAME < json
json_field() {
    tr -d '\n' | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"
}

need_cli() {
    [ -x "$LK" ] || die "admin CLI $LK not built"
}

# new_user UIN [ARGS...]
new_user() {
    lk user add "$@" >/dev/null || die "latchkey user add $* failed"
}

# new_key UIN: sets KEY_ID and KEY_SECRET
new_key() {
    local out
    out=$(lk --json key create "$1") || die "latchkey key create $1 failed"
    KEY_ID=$(printf '%s' "$out" | json_field AccessKeyId)
    KEY_SECRET=$(printf '%s' "$out" | json_field SecretAccessKey)
    [ -n "$KEY_ID" ] && [ -n "$KEY_SECRET" ] || die "cannot parse key create output"
}

# new_apikey ROOT_UIN NAME [CLI ARGS...]: sets APIKEY_ID and APIKEY
new_apikey() {
    local root=$1 name=$2 out
    shift 2
    out=$(lk --json apikey create "$root" --name "$name" "$@") || die "latchkey apikey create failed"
    APIKEY_ID=$(printf '%s' "$out" | json_field KeyId)
    APIKEY=$(printf '%s' "$out" | json_field ApiKey)
    [ -n "$APIKEY_ID" ] && [ -n "$APIKEY" ] || die "cannot parse apikey create output"
}
