# lib.sh — helpers for the end-to-end tests of the `latchkey` tool.
# Sourced by every tests/e2e/*.sh. POSIX sh; no python3/jq: JSON is checked
# with grep and sed.
#
# Environment: LK_BUILDDIR (where ./latchkey is built), LK_SRCDIR (sources),
# LATCHKEY (binary to test; default $LK_BUILDDIR/latchkey),
# LK_E2E_BACKENDS (default "lmdb flatfile"; tests/pg/e2e.sh adds postgresql,
# each store then a new database of its private cluster: pg_new_db).

set -eu

LK_SRCDIR=${LK_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
LK_BUILDDIR=${LK_BUILDDIR:-$LK_SRCDIR}
LATCHKEY=${LATCHKEY:-$LK_BUILDDIR/latchkey}
. "$LK_SRCDIR/tests/libtool.sh" # LATCHKEY: the program behind the wrapper
LK_E2E_BACKENDS=${LK_E2E_BACKENDS:-lmdb flatfile}
TZ=UTC
export TZ
unset LATCHKEY_CONFIG || :

[ -x "$LATCHKEY" ] || { echo "FAIL: $LATCHKEY not built" >&2; exit 1; }

# One scratch dir per script. Captured output lives in $WORK/cap, apart
# from the stores, so grepping a store dir never sees a captured secret.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lk-e2e.XXXXXX")
mkdir "$WORK/cap"
# cleanup (the EXIT trap; a script's own trap calls it last): parses the
# outputs json_valid collected, then removes the scratch dir; a bad one fails
# the test here.
cleanup() {
    _json_status=0
    json_check_collected || _json_status=1
    chmod -R u+rwx "$WORK" 2>/dev/null || :
    rm -rf "$WORK"
    [ "$_json_status" = 0 ] || exit 1
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

BACKEND=none
TESTNAME=$(basename "$0" .sh)

fail() {
    printf 'FAIL [%s/%s]: %s\n' "$TESTNAME" "$BACKEND" "$*" >&2
    if [ -n "${LAST_CMD:-}" ]; then
        printf '  last command: %s (exit %s)\n' "$LAST_CMD" "${RC:-?}" >&2
        printf '  stdout: %s\n' "$(head -c 2000 "$WORK/cap/out")" >&2
        printf '  stderr: %s\n' "$(head -c 2000 "$WORK/cap/err")" >&2
    fi
    exit 1
}

note() { printf '# [%s/%s] %s\n' "$TESTNAME" "$BACKEND" "$*"; }

skip() {
    echo "SKIP [$TESTNAME]: $*"
    exit 77
}

# ------------------------------------------------------------ running

# run CMD...: run with stdin from /dev/null; sets RC, OUT, ERR. Never aborts.
run() {
    run_raw /dev/null "$@"
}

# run_in TEXT CMD...: run with TEXT and a newline on stdin.
run_in() {
    _in=$1
    shift
    LAST_CMD="$*"
    RC=0
    printf '%s\n' "$_in" | "$@" >"$WORK/cap/out" 2>"$WORK/cap/err" || RC=$?
    OUT=$(cat "$WORK/cap/out")
    ERR=$(cat "$WORK/cap/err")
}

# run_raw FILE CMD...: run with FILE as stdin.
run_raw() {
    _f=$1
    shift
    LAST_CMD="$* <$_f"
    RC=0
    "$@" <"$_f" >"$WORK/cap/out" 2>"$WORK/cap/err" || RC=$?
    OUT=$(cat "$WORK/cap/out")
    ERR=$(cat "$WORK/cap/err")
}

# The tool against the current store.
lk() { "$LATCHKEY" --config "$CFG" "$@"; }

# expect_exit CODE CMD...: run and check the exit status.
expect_exit() {
    _want=$1
    shift
    run "$@"
    [ "$RC" = "$_want" ] || fail "expected exit $_want, got $RC"
}

# expect_exit_in TEXT CODE CMD...: same, with TEXT on stdin.
expect_exit_in() {
    _text=$1
    _want=$2
    shift 2
    run_in "$_text" "$@"
    [ "$RC" = "$_want" ] || fail "expected exit $_want, got $RC"
}

# ------------------------------------------------------------ checking output

# out_has / err_has PATTERN (basic regex); out_has_str STRING (fixed).
out_has() { printf '%s\n' "$OUT" | grep -q -e "$1" || fail "stdout lacks /$1/"; }
err_has() { printf '%s\n' "$ERR" | grep -q -e "$1" || fail "stderr lacks /$1/"; }
# The fixed-string checks are shell patterns, not grep: no process per check
# (secrets.sh makes some 20000 of them).
out_has_str() { case $OUT in *"$1"*) ;; *) fail "stdout lacks '$1'" ;; esac; }
err_has_str() { case $ERR in *"$1"*) ;; *) fail "stderr lacks '$1'" ;; esac; }
out_lacks_str() { case $OUT in *"$1"*) fail "stdout shows '$1'" ;; esac; }
err_lacks_str() { case $ERR in *"$1"*) fail "stderr shows '$1'" ;; esac; }
out_matches_ere() { printf '%s\n' "$OUT" | grep -Eq -e "$1" || fail "stdout does not match /$1/"; }
err_empty() { [ -z "$ERR" ] || fail "stderr not empty"; }

# The error line: `latchkey: CODE: message` on stderr.
expect_error() { err_has "^latchkey: $1: ."; }

# jget NAME: the first string member "NAME":"..." of $OUT.
jget() {
    printf '%s\n' "$OUT" | grep -o "\"$1\":\"[^\"]*\"" | head -n 1 | sed 's/^"[^"]*":"//; s/"$//'
}

# jnum NAME: the first number member "NAME":123 of $OUT.
jnum() {
    printf '%s\n' "$OUT" | grep -o "\"$1\":[0-9][0-9]*" | head -n 1 | sed 's/^"[^"]*"://'
}

# jcount TEXT: how many times TEXT (fixed) occurs in $OUT.
jcount() { printf '%s\n' "$OUT" | grep -oF -e "$1" | wc -l | tr -d ' '; }

UUID_ERE='[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'
TIME_ERE='[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}'

# A JSON success envelope: one line {"Response":{...,"RequestId":"<uuid>"}}.
json_ok() {
    out_matches_ere "^\\{\"Response\":\\{.*\"RequestId\":\"$UUID_ERE\"\\}\\}\$"
    [ "$(printf '%s\n' "$OUT" | wc -l)" -eq 1 ] || fail "JSON output is not one line"
    json_valid
}

# The JSON error envelope with CODE, on stdout, nothing on stderr.
json_error() {
    out_matches_ere "^\\{\"Response\":\\{\"Error\":\\{\"Code\":\"$1\",\"Message\":\"[^\"].*\"\\},\"RequestId\":\"$UUID_ERE\"\\}\\}\$"
    err_empty
    json_valid
}

# Full JSON check when python3 happens to be there (it is not required):
# json_valid collects $OUT (NUL-separated) and one python3 parses them all
# at exit (cleanup), not one python3 each: a start costs 0.16 s on a loaded
# 2-core guest, a quarter of manage.sh's time.
json_valid() {
    printf '%s\0' "$OUT" >>"$WORK/cap/json"
}
json_check_collected() {
    [ -s "$WORK/cap/json" ] && command -v python3 >/dev/null 2>&1 || return 0
    python3 - "$WORK/cap/json" "$TESTNAME" <<'EOF'
import json, re, sys
outputs = open(sys.argv[1], "rb").read().split(b"\0")[:-1]
for n, raw in enumerate(outputs, 1):
    try:
        json.loads(raw.decode("utf-8"))
    except ValueError as e:  # UnicodeDecodeError is one
        # no secret in a log: a SecretKey, and an API key past its public id
        shown = re.sub(rb"LKSK[0-9A-Za-z]+", b"LKSK...", raw[:120])
        shown = re.sub(rb"(lk-[0-9A-Za-z]{12})[0-9A-Za-z]+", rb"\1...", shown)
        sys.stderr.write("FAIL [%s]: output %d of %d is not valid JSON (%s): %r\n"
                         % (sys.argv[2], n, len(outputs), e, shown))
        sys.exit(1)
EOF
}

# ------------------------------------------------------------ stores

# write_config FILE BACKEND [STOREPATH] [EXTRA-YAML-LINES]: a config with
# fast Argon2 parameters (tests only: far below what production should use).
write_config() {
    _store=${3:-}
    if [ -z "$_store" ]; then
        case $2 in
        flatfile) _store=store.txt ;;
        *) _store=store.mdb ;;
        esac
    fi
    # postgresql: conninfo takes path's line (a database has no path), so
    # line numbers in messages stay the same for every backend
    _where="path: $_store"
    [ "$2" = postgresql ] && _where="conninfo: \"$PG_STORE_CONNINFO\""
    cat >"$1" <<EOF
# e2e test configuration
store:
  backend: $2
  $_where
hash: {opslimit: 1, memlimit_kib: 8}
${4:-}
EOF
}

# setup_store BACKEND [EXTRA-YAML-LINES]: a fresh store; sets BACKEND, DIR
# (the store's directory), CFG (its config file) and STORE (the store file).
setup_store() {
    BACKEND=$1
    DIR=$(mktemp -d "$WORK/$1.XXXXXX")
    CFG=$DIR/latchkey.yaml
    case $1 in
    flatfile) STORE=$DIR/store.txt ;;
    *) STORE=$DIR/store.mdb ;;
    esac
    if [ "$1" = postgresql ]; then
        PG_DBN=$((${PG_DBN:-0} + 1))
        PG_STORE_CONNINFO=$(pg_new_db "lk_${TESTNAME}_$PG_DBN") || fail "cannot create a database"
    fi
    write_config "$CFG" "$1" "" "${2:-}"
    init_store
    LAST_CMD=
}

# init_store: create the store $CFG names (only `init` creates stores).
init_store() {
    run lk init
    [ "$RC" = 0 ] || fail "init of the store of $CFG failed"
}

# for_each_backend FUNCTION: run FUNCTION once per backend, each time on a
# fresh store (the function calls setup_store itself if it needs options).
for_each_backend() {
    for _b in $LK_E2E_BACKENDS; do
        setup_store "$_b"
        note "start"
        "$1"
        note "ok"
    done
}

# checksum FILE...: one line per file (cksum is POSIX).
checksum() { cksum "$@"; }

# ------------------------------------------------------------ common steps

# new_key UIN: create an access key; sets SID and SK.
new_key() {
    expect_exit 0 lk --json key create "$1"
    SID=$(jget AccessKeyId)
    SK=$(jget SecretAccessKey)
    [ ${#SID} -eq 36 ] || fail "SecretId '$SID' is not 36 characters"
    [ ${#SK} -eq 46 ] || fail "SecretKey is not 46 characters"
}

# new_apikey ROOT_UIN NAME [OPTIONS...]: create an API key; sets AKID, AK.
new_apikey() {
    _root=$1
    _name=$2
    shift 2
    expect_exit 0 lk --json apikey create "$_root" --name "$_name" "$@"
    AKID=$(jget KeyId)
    AK=$(jget ApiKey)
    [ ${#AKID} -eq 15 ] || fail "API key id '$AKID' is not 15 characters"
    [ ${#AK} -eq 57 ] || fail "API key is not 57 characters"
}
