#!/bin/bash
# pam.sh — pam_latchkey.so inside the real libpam, through cwrap's
# pam_wrapper (service files from our own directory, nothing in /etc/pam.d),
# driven by tests/plugins/pam_harness (pam_start / PAM_RHOST /
# pam_authenticate / pam_acct_mgmt) and by pamtester.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # SH_LOG_COMPILER may be a POSIX sh
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"

MOD=$LK_BUILDDIR/.libs/pam_latchkey.so
HARNESS=$LK_BUILDDIR/tests/plugins/pam_harness
PW=$(pkg-config --variable=libdir pam_wrapper 2>/dev/null)/libpam_wrapper.so
[ -f "$PW" ] || PW=$(ls /usr/lib/*/libpam_wrapper.so /usr/lib/libpam_wrapper.so 2>/dev/null | head -n1)
[ -n "$PW" ] && [ -f "$PW" ] || skip "libpam_wrapper.so not found (apt-get install libpam-wrapper)"
SET_ITEMS=$(dirname "$PW")/pam_wrapper/pam_set_items.so
[ -f "$MOD" ] || die "$MOD not built"
[ -x "$HARNESS" ] || die "$HARNESS not built"
need_cli

# The module exports the PAM entry points and nothing else.
check "exports only pam_sm_*" "pam_sm_acct_mgmt pam_sm_authenticate pam_sm_setcred" \
    "$(nm -D --defined-only "$MOD" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort | tr '\n' ' ' | sed 's/ $//')"

write_config
init_store
SVC=$TMP/pam.d
mkdir -p "$SVC"
service() { # NAME ARGS... : auth and account lines with the same arguments
    local name=$1
    shift
    printf 'auth required %s %s\naccount required %s %s\n' "$MOD" "$*" "$MOD" "$*" >"$SVC/$name"
}
service lk-secretid "config=$CONF"
service lk-default-mode "config=$CONF debug"
service lk-apikey "config=$CONF mode=apikey service=cvm"
service lk-apikey-vpc "config=$CONF mode=apikey service=vpc"
service lk-apikey-noscope "config=$CONF mode=apikey"
service lk-any "config=$CONF mode=any"
service lk-apikey-anyuser "config=$CONF mode=apikey service=cvm any_user"
# latchkey before pam_permit (standing in for common-account's pam_unix): a
# user latchkey knows nothing about is left to the rest of the stack.
PERMIT=$(ls /lib/*/security/pam_permit.so /lib/security/pam_permit.so /usr/lib/*/security/pam_permit.so 2>/dev/null | head -n1)
printf 'account required %s config=%s\naccount required %s\n' "$MOD" "$CONF" "${PERMIT:-pam_permit.so}" >"$SVC/lk-stacked"
service lk-bogus-mode "config=$CONF mode=bogus"
service lk-no-config "config=/nonexistent/latchkey.yaml"
service lk-relative "config=latchkey.yaml"
service lk-unknown-arg "config=$CONF frobnicate"
service lk-bad-service "config=$CONF service=no*such"
service lk-empty-config "config="
printf 'auth required %s\nauth required %s config=%s use_first_pass\n' "$SET_ITEMS" "$MOD" "$CONF" >"$SVC/lk-first-pass"
printf 'auth required %s config=%s use_first_pass\n' "$MOD" "$CONF" >"$SVC/lk-first-pass-alone"
printf 'auth required %s\nauth required %s config=%s try_first_pass\n' "$SET_ITEMS" "$MOD" "$CONF" >"$SVC/lk-try-first-pass"

# pam SECRET HARNESS-ARGS... : run the harness, secret on stdin; the
# module's pam_syslog lines reach harness.err (pam_wrapper logs them at level 2)
pam() {
    local secret=$1
    shift
    printf '%s\n' "$secret" |
        env LD_PRELOAD="$PW" PAM_WRAPPER=1 PAM_WRAPPER_DEBUGLEVEL=2 PAM_WRAPPER_SERVICE_DIR="$SVC" timeout 20 "$HARNESS" "$@" 2>>"$TMP/harness.err"
}

new_user 100
new_key 100
ID=$KEY_ID
SECRET=$KEY_SECRET
new_key 100
ID2=$KEY_ID
SECRET2=$KEY_SECRET

# ---- SecretId mode
check "valid pair: auth and account" "auth: PAM_SUCCESS|acct: PAM_SUCCESS" \
    "$(pam "$SECRET" lk-secretid "$ID" auth acct | tr '\n' '|' | sed 's/|$//')"
check "valid pair twice on one handle (cached ctx)" "auth: PAM_SUCCESS|auth: PAM_SUCCESS" \
    "$(pam "$SECRET" lk-default-mode "$ID" auth auth | tr '\n' '|' | sed 's/|$//')"
check "wrong secret (another key's) -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" "$(pam "$SECRET2" lk-secretid "$ID" auth)"
check "truncated secret -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" "$(pam "${SECRET%?????}" lk-secretid "$ID" auth)"
check "empty secret -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" "$(pam "" lk-secretid "$ID" auth)"
check "unknown SecretId -> PAM_USER_UNKNOWN" "auth: PAM_USER_UNKNOWN" \
    "$(pam "$SECRET" lk-secretid "AKIDnosuchkeynosuchkeynosuchkey12345" auth)"
check "malformed user -> PAM_USER_UNKNOWN" "auth: PAM_USER_UNKNOWN" "$(pam "$SECRET" lk-secretid "alice" auth)"
check "account of a user latchkey does not know: ignored, alone in the stack -> not success" \
    "acct: PAM_PERM_DENIED" "$(pam "" --no-secret lk-secretid "nobody-here" acct)"
check "account of a user latchkey does not know: the rest of the stack decides" "acct: PAM_SUCCESS" \
    "$(pam "" --no-secret lk-stacked "nobody-here" acct)"
check "account needs no secret" "acct: PAM_SUCCESS" "$(pam "" --no-secret lk-secretid "$ID" acct)"

# pamtester, the stock PAM client, agrees (its conversation reads stdin).
if command -v pamtester >/dev/null; then
    out=$(printf '%s\n' "$SECRET" | env LD_PRELOAD="$PW" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$SVC" \
        timeout 20 pamtester lk-secretid "$ID" authenticate acct_mgmt 2>&1)
    check "pamtester: valid pair" 0 "$?"
    check_match "pamtester: says authenticated" "successfully authenticated" "$out"
    out=$(printf '%s\n' "$SECRET2" | env LD_PRELOAD="$PW" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$SVC" \
        timeout 20 pamtester lk-secretid "$ID" authenticate 2>&1)
    check "pamtester: wrong secret fails" 1 "$?"
    check_match "pamtester: Authentication failure" "Authentication failure" "$out"
fi

# ---- disabled, re-enabled, deleted
lk key disable "$ID" >/dev/null || die "key disable"
check "disabled key: auth -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" "$(pam "$SECRET" lk-secretid "$ID" auth)"
check "disabled key: account -> PAM_ACCT_EXPIRED" "acct: PAM_ACCT_EXPIRED" \
    "$(pam "" --no-secret lk-secretid "$ID" acct)"
lk key enable "$ID" >/dev/null || die "key enable"
check "re-enabled key: auth -> PAM_SUCCESS" "auth: PAM_SUCCESS" "$(pam "$SECRET" lk-secretid "$ID" auth)"
lk key disable "$ID" >/dev/null && lk key delete "$ID" >/dev/null || die "key delete"
check "deleted key: auth -> PAM_USER_UNKNOWN" "auth: PAM_USER_UNKNOWN" "$(pam "$SECRET" lk-secretid "$ID" auth)"
check "deleted key: account -> PAM_USER_UNKNOWN" "acct: PAM_USER_UNKNOWN" \
    "$(pam "" --no-secret lk-secretid "$ID" acct)"

# ---- use_first_pass / try_first_pass (pam_set_items puts $PAM_AUTHTOK on the stack)
first_pass() { # SERVICE TOKEN
    env LD_PRELOAD="$PW" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$SVC" PAM_AUTHTOK="$2" \
        timeout 20 "$HARNESS" --no-secret "$1" "$ID2" auth </dev/null 2>>"$TMP/harness.err"
}
if [ -f "$SET_ITEMS" ]; then
    check "use_first_pass: earlier module's token, no prompt" "auth: PAM_SUCCESS" "$(first_pass lk-first-pass "$SECRET2")"
    check "use_first_pass: wrong earlier token" "auth: PAM_AUTH_ERR" "$(first_pass lk-first-pass "$SECRET")"
    check "try_first_pass: earlier module's token" "auth: PAM_SUCCESS" "$(first_pass lk-try-first-pass "$SECRET2")"
fi
check "use_first_pass without an earlier token never prompts" "auth: PAM_AUTH_ERR" \
    "$(pam "" --no-secret lk-first-pass-alone "$ID2" auth)"

# ---- API keys: scope (service=) and allowlist (PAM_RHOST)
new_apikey 100 pam-test --scope cvm,cos --allow-ip 10.0.0.0/8,2001:db8::/32
AK=$APIKEY
AK_ID=$APIKEY_ID
lk user edit 100 --login alice >/dev/null || die "user edit --login"
check "apikey: right IP and scope, as the account's login" "auth: PAM_SUCCESS|acct: PAM_SUCCESS" \
    "$(pam "$AK" --rhost 10.1.2.3 lk-apikey alice auth acct | tr '\n' '|' | sed 's/|$//')"
check "apikey: as its own key id" "auth: PAM_SUCCESS" "$(pam "$AK" --rhost 10.1.2.3 lk-apikey "$AK_ID" auth)"
check "apikey: right IPv6" "auth: PAM_SUCCESS" "$(pam "$AK" --rhost 2001:db8::7 lk-apikey alice auth)"

# ---- identity binding: a key logs in only as the identity it belongs to
check "apikey: as root -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" "$(pam "$AK" --rhost 10.1.2.3 lk-apikey root auth)"
check "apikey: as an unbound name -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" \
    "$(pam "$AK" --rhost 10.1.2.3 lk-apikey anyone auth)"
check_match "identity refusal is logged naming both" "LoginNotMatch.*$AK_ID.*'root'" \
    "$(grep -a "user 'root' refused" "$TMP/harness.err" | tail -n1)"
check "any_user waives the binding" "auth: PAM_SUCCESS" \
    "$(pam "$AK" --rhost 10.1.2.3 lk-apikey-anyuser anyone auth)"
new_user 300 --login bob
new_key 300
BOB_ID=$KEY_ID
BOB_SECRET=$KEY_SECRET
new_apikey 300 bob-key
BOB_AK_ID=$APIKEY_ID
check "apikey: as another account's login -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" \
    "$(pam "$AK" --rhost 10.1.2.3 lk-apikey bob auth)"
check "mode=any: as another key's id -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" \
    "$(pam "$AK" --rhost 10.1.2.3 lk-any "$BOB_AK_ID" auth)"
check "pair as password SecretId:SecretKey, as the owner's login" "auth: PAM_SUCCESS|acct: PAM_SUCCESS" \
    "$(pam "$ID2:$SECRET2" lk-secretid alice auth acct | tr '\n' '|' | sed 's/|$//')"
check "pair as password in mode=any" "auth: PAM_SUCCESS" "$(pam "$ID2:$SECRET2" lk-any alice auth)"
check "pair as password, as another login -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" \
    "$(pam "$BOB_ID:$BOB_SECRET" lk-secretid alice auth)"
check "pair as password, wrong SecretKey -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" \
    "$(pam "$ID2:$BOB_SECRET" lk-secretid alice auth)"
check "pair as SecretId user, password SecretKey, user is the id" "auth: PAM_SUCCESS" \
    "$(pam "$SECRET2" lk-secretid "$ID2" auth)"
check "another user's SecretId as the PAM user -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" \
    "$(pam "$BOB_ID:$BOB_SECRET" lk-secretid "$ID2" auth)"
new_user 101 --kind sub-user --root 100 --login carol
new_key 101
check "sub-user: its pair as its login" "auth: PAM_SUCCESS" "$(pam "$KEY_ID:$KEY_SECRET" lk-secretid carol auth)"
check "sub-user: its root account's API key -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" \
    "$(pam "$AK" --rhost 10.1.2.3 lk-apikey carol auth)"
check "account of a bound login with an Active key, no auth (public key)" "acct: PAM_SUCCESS" \
    "$(pam "" --no-secret lk-stacked bob acct)"
lk key disable "$BOB_ID" >/dev/null && lk apikey disable "$BOB_AK_ID" >/dev/null || die "disable bob's keys"
check "account of a bound login whose keys are all disabled -> PAM_ACCT_EXPIRED" "acct: PAM_ACCT_EXPIRED" \
    "$(pam "" --no-secret lk-stacked bob acct)"
check_match "account refusal logs a reason, not 'no error'" "login 'bob'.*no Active credential" \
    "$(grep -a "account for user 'bob'" "$TMP/harness.err" | tail -n1)"
check "a scoped key with no service= named -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" \
    "$(pam "$AK" --rhost 10.1.2.3 lk-apikey-noscope alice auth)"
check "apikey: wrong IP -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" "$(pam "$AK" --rhost 192.168.1.1 lk-apikey alice auth)"
check "apikey: no PAM_RHOST with an allowlist -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" "$(pam "$AK" lk-apikey alice auth)"
check "apikey: host name as PAM_RHOST -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" \
    "$(pam "$AK" --rhost gateway.example lk-apikey alice auth)"
check "apikey: service outside scope -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" \
    "$(pam "$AK" --rhost 10.1.2.3 lk-apikey-vpc alice auth)"
new_apikey 100 pam-unscoped
UNSCOPED=$APIKEY
check "apikey: unscoped key with no service= named" "auth: PAM_SUCCESS" \
    "$(pam "$UNSCOPED" --rhost 10.9.9.9 lk-apikey-noscope alice auth)"
check "apikey: wrong key -> not success" "auth: PAM_USER_UNKNOWN" \
    "$(pam "lk-nosuchkey00000000000000000000000000000000000000000000" --rhost 10.1.2.3 lk-apikey anyone auth)"
check "apikey: SecretKey as API key -> not success" "auth: PAM_USER_UNKNOWN" \
    "$(pam "$SECRET2" --rhost 10.1.2.3 lk-apikey anyone auth)"
check "apikey: account by key id, no secret" "acct: PAM_SUCCESS" "$(pam "" --no-secret lk-apikey "$AK_ID" acct)"
check "apikey: account of an unbound user without auth -> not success" "acct: PAM_PERM_DENIED" \
    "$(pam "" --no-secret lk-apikey anyone acct)"

# mode=any: SecretIds as such, everything else as an API key
check "mode=any: SecretId" "auth: PAM_SUCCESS" "$(pam "$SECRET2" lk-any "$ID2" auth)"
check "mode=any: API key" "auth: PAM_SUCCESS" "$(pam "$UNSCOPED" --rhost 10.1.2.3 lk-any alice auth)"
check "mode=any: API key as an unbound user -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" \
    "$(pam "$UNSCOPED" --rhost 10.1.2.3 lk-any mallory auth)"
check "mode=any: wrong SecretKey" "auth: PAM_AUTH_ERR" "$(pam "$SECRET" lk-any "$ID2" auth)"

lk apikey disable "$AK_ID" >/dev/null || die "apikey disable"
check "disabled apikey: auth -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" "$(pam "$AK" --rhost 10.1.2.3 lk-apikey alice auth)"
check "disabled apikey: account -> PAM_ACCT_EXPIRED" "acct: PAM_ACCT_EXPIRED" \
    "$(pam "" --no-secret lk-apikey "$AK_ID" acct)"
lk apikey delete "$AK_ID" >/dev/null || die "apikey delete"
check "deleted apikey: auth -> PAM_USER_UNKNOWN" "auth: PAM_USER_UNKNOWN" \
    "$(pam "$AK" --rhost 10.1.2.3 lk-apikey alice auth)"

# ---- administrator mistakes: PAM_SERVICE_ERR, never a crash
for svc in lk-bogus-mode lk-no-config lk-relative lk-unknown-arg lk-bad-service lk-empty-config; do
    check "$svc: auth and account -> PAM_SERVICE_ERR" "auth: PAM_SERVICE_ERR|acct: PAM_SERVICE_ERR" \
        "$(pam "$SECRET2" "$svc" "$ID2" auth acct | tr '\n' '|' | sed 's/|$//')"
done

# ---- store unusable (a group/world-writable store is refused): fail closed
write_config "$TMP/loose.yaml" "$TMP/loose/store.mdb"
mkdir -p "$TMP/loose"
cp "$TMP/store.mdb" "$TMP/loose/store.mdb" 2>/dev/null || true
chmod 666 "$TMP/loose/store.mdb"
service lk-loose "config=$TMP/loose.yaml"
check "loose store permissions -> PAM_AUTHINFO_UNAVAIL" "auth: PAM_AUTHINFO_UNAVAIL" \
    "$(pam "$SECRET2" lk-loose "$ID2" auth)"

# ---- store missing (a mistyped store.path): fail closed, nothing created
write_config "$TMP/missing.yaml" "$TMP/missing/store.mdb"
mkdir -p "$TMP/missing"
service lk-missing "config=$TMP/missing.yaml"
check "missing store -> PAM_AUTHINFO_UNAVAIL" "auth: PAM_AUTHINFO_UNAVAIL|acct: PAM_AUTHINFO_UNAVAIL" \
    "$(pam "$SECRET2" lk-missing "$ID2" auth acct | tr '\n' '|' | sed 's/|$//')"
check "missing store is not created by the module" "" "$(ls -A "$TMP/missing")"

# ---- through latchkeyd (socket=): same verdicts, the module never opens the store
if [ -x "$LK_BUILDDIR/latchkeyd" ]; then
    start_latchkeyd
    service lk-socket "socket=$LKD_SOCK mode=any"
    service lk-socket-scoped "socket=$LKD_SOCK mode=apikey service=cvm"
    service lk-both "config=$CONF socket=$LKD_SOCK"
    new_key 300
    check "socket=: pair as login, auth and account" "auth: PAM_SUCCESS|acct: PAM_SUCCESS" \
        "$(pam "$KEY_ID:$KEY_SECRET" lk-socket bob auth acct | tr '\n' '|' | sed 's/|$//')"
    check "socket=: another account's login -> PAM_AUTH_ERR" "auth: PAM_AUTH_ERR" \
        "$(pam "$KEY_ID:$KEY_SECRET" lk-socket alice auth)"
    check "socket=: account of a bound login, no auth (lk_login_check through the service)" "acct: PAM_SUCCESS" \
        "$(pam "" --no-secret lk-socket bob acct)"
    check "socket=: account of an unknown user is ignored" "acct: PAM_PERM_DENIED" \
        "$(pam "" --no-secret lk-socket nobody-here acct)"
    check "socket=: API key with service=, as its account's login" "auth: PAM_SUCCESS" \
        "$(pam "$UNSCOPED" --rhost 10.1.2.3 lk-socket-scoped alice auth)"
    check "config= and socket= together -> PAM_SERVICE_ERR" "auth: PAM_SERVICE_ERR" \
        "$(pam "$KEY_ID:$KEY_SECRET" lk-both bob auth)"
    kill "$LKD_PID" && wait "$LKD_PID" 2>/dev/null
    check "socket=: service gone -> PAM_AUTHINFO_UNAVAIL (fail closed)" "auth: PAM_AUTHINFO_UNAVAIL" \
        "$(pam "$KEY_ID:$KEY_SECRET" lk-socket bob auth)"
fi

leaked=
for secret in "$SECRET" "$SECRET2" "$BOB_SECRET" "$AK" "$UNSCOPED" "${SECRET2#LKSK}"; do
    grep -qaF -- "$secret" "$TMP/harness.err" && leaked="$leaked ${secret:0:4}..."
done
check "no secret in the module's log lines" "" "$leaked"
if grep -qi -E 'segfault|abort|sanitizer' "$TMP/harness.err"; then
    check "no crash reported by the harness" "" "$(cat "$TMP/harness.err")"
fi
finish
