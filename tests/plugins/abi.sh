#!/bin/bash
# abi.sh — the stable dlopen ABI (latchkey_plugin.so) through examples/host:
# every result number, the version rules, an older host's smaller table, one
# handle shared by threads and across fork.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # SH_LOG_COMPILER may be a POSIX sh
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"

MOD=$LK_BUILDDIR/.libs/latchkey_plugin.so
HOST=$LK_BUILDDIR/examples/host
OLD=$LK_BUILDDIR/tests/plugins/host_old
[ -f "$MOD" ] || die "$MOD not built"
[ -x "$HOST" ] && [ -x "$OLD" ] || die "hosts not built"
need_cli

check "exports only latchkey_plugin_api" "latchkey_plugin_api" \
    "$(nm -D --defined-only "$MOD" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort | tr '\n' ' ' | sed 's/ $//')"

write_config
init_store
new_user 100
new_user 200
new_key 100
ID=$KEY_ID
SECRET=$KEY_SECRET
new_key 200
ID2=$KEY_ID
SECRET2=$KEY_SECRET
new_apikey 100 abi-test --scope cvm --allow-ip 10.0.0.0/8
AK=$APIKEY
AK_ID=$APIKEY_ID

# host [HOST] -- ARGS... with SECRET on stdin; prints "EXIT|stdout"
run() {
    local bin=$HOST secret
    if [ "$1" = old ]; then bin=$OLD; shift; fi
    secret=$1
    shift
    local out rc
    out=$(printf '%s\n' "$secret" | timeout 20 "$bin" "$@" 2>>"$TMP/host.err")
    rc=$?
    printf '%s|%s' "$rc" "$(printf '%s' "$out" | tr '\n' '|' | sed 's/|$//')"
}

check "SecretId: allowed" "0|allowed uin=100" "$(run "$SECRET" "$MOD" "$CONF" secretid "$ID")"
check "SecretId: other user's key" "0|allowed uin=200" "$(run "$SECRET2" "$MOD" "$CONF" secretid "$ID2")"
check "SecretId: wrong secret -> 15" "3|denied: 15 AuthFailure.SignatureFailure" \
    "$(run "$SECRET2" "$MOD" "$CONF" secretid "$ID")"
check_match "SecretId: malformed id -> 13" "^3\|denied: 13 " "$(run "$SECRET" "$MOD" "$CONF" secretid nope)"
# A well-formed id that does not exist: a deleted one.
new_key 200
GONE=$KEY_ID
lk key disable "$GONE" >/dev/null && lk key delete "$GONE" >/dev/null || die "key delete"
check "SecretId: unknown id -> 14" "3|denied: 14 AuthFailure.SecretIdNotFound" \
    "$(run "$KEY_SECRET" "$MOD" "$CONF" secretid "$GONE")"
lk key disable "$ID2" >/dev/null || die "key disable"
# refused before the secret is checked (disabled, IP, scope): a wrong
# secret's answer, 15, whatever the secret (issue 19)
check "SecretId: disabled -> 15" "3|denied: 15 AuthFailure.SignatureFailure" \
    "$(run "$SECRET2" "$MOD" "$CONF" secretid "$ID2")"

check "API key: allowed" "0|allowed uin=100" \
    "$(run "$AK" --ip 10.2.3.4 --service cvm "$MOD" "$CONF" apikey)"
check "API key: wrong IP -> 15" "3|denied: 15 AuthFailure.SignatureFailure" \
    "$(run "$AK" --ip 172.16.0.1 --service cvm "$MOD" "$CONF" apikey)"
check "API key: no IP with an allowlist -> 15" "3|denied: 15 AuthFailure.SignatureFailure" \
    "$(run "$AK" --service cvm "$MOD" "$CONF" apikey)"
check "API key: wrong service -> 15" "3|denied: 15 AuthFailure.SignatureFailure" \
    "$(run "$AK" --ip 10.2.3.4 --service cos "$MOD" "$CONF" apikey)"
check_match "API key: SecretKey is no API key -> 13" "^3\|denied: 13 " \
    "$(run "$SECRET" --ip 10.2.3.4 "$MOD" "$CONF" apikey)"

# One handle, many threads at once; and a forked child keeps using it.
check "8 threads on one handle agree (allowed)" "0|allowed uin=100" \
    "$(run "$SECRET" --threads 8 "$MOD" "$CONF" secretid "$ID")"
check "8 threads on one handle agree (denied)" "3|denied: 15 AuthFailure.SignatureFailure" \
    "$(run "$SECRET2" --threads 8 "$MOD" "$CONF" secretid "$ID")"
check "forked child verifies on the parent's handle" "0|allowed uin=100|child: allowed uin=100" \
    "$(run "$SECRET" --fork "$MOD" "$CONF" secretid "$ID")"

# open failures are results, not crashes
check_match "open: missing config -> 19" "^4\|open failed: 19 " \
    "$(run "$SECRET" "$MOD" "$TMP/nonexistent.yaml" secretid "$ID")"
printf 'store: [this is not\n' >"$TMP/broken.yaml"
check_match "open: broken config -> 19" "^4\|open failed: 19 " "$(run "$SECRET" "$MOD" "$TMP/broken.yaml" secretid "$ID")"

# Version rules: a host asking for more than the module has gets NULL.
check "ABI 2 requested from a v1 module -> refused" "6|" "$(run "$SECRET" --abi 2 "$MOD" "$CONF" secretid "$ID")"
check "ABI 0 -> refused" "6|" "$(run "$SECRET" --abi 0 "$MOD" "$CONF" secretid "$ID")"
check_match "module reports ABI 1 and a table no smaller than the host's" "module ABI 1, table [0-9]+ bytes" \
    "$(cat "$TMP/host.err")"

# An older host, built with a smaller copy of the table, keeps working.
: >"$TMP/host.err"
check "old host: allowed" "0|allowed uin=100" "$(run old "$SECRET" "$MOD" "$CONF" secretid "$ID")"
check "old host: denied (no status_code member: number only)" "3|denied: 15 ?" \
    "$(run old "$SECRET2" "$MOD" "$CONF" secretid "$ID")"
check "old host: API key" "0|allowed uin=100" "$(run old "$AK" --ip 10.2.3.4 --service cvm "$MOD" "$CONF" apikey)"
old_sizes=$(sed -n 's/.*table \([0-9]*\) bytes, host knows \([0-9]*\).*/\1 \2/p' "$TMP/host.err" | head -n1)
read -r table known <<<"$old_sizes"
check "old host's table is smaller than the module's" 1 "$([ "${known:-0}" -gt 0 ] && [ "${table:-0}" -gt "$known" ] && echo 1)"

# A module path that is not a module
check "not a module -> 6" "6|" "$(run "$SECRET" "$TMP/latchkey.yaml" "$CONF" secretid "$ID")"
finish
