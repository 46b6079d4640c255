#!/bin/bash
# dovecot.sh — Dovecot IMAP (passdb pam) logging users in through
# pam_latchkey.so socket= and latchkeyd: doc/dovecot.md's recipe, in a
# private Dovecot on 127.0.0.1 and a free port (its own base_dir, config and
# PAM service file). Through the socket the auth worker maps no store, so
# Dovecot's default vsz_limit holds. Needs root (the auth worker runs PAM as
# root, a PAM service file in /etc/pam.d) and dovecot-imapd and curl.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"

DOVECOT=$(command -v dovecot || ls /usr/sbin/dovecot 2>/dev/null)
[ -n "$DOVECOT" ] && [ -x "$DOVECOT" ] || skip "dovecot not found (apt-get install dovecot-imapd)"
[ -e /usr/lib/dovecot/imap ] || skip "dovecot's imap service not found (apt-get install dovecot-imapd)"
command -v curl >/dev/null || skip "curl not found"
[ "$(id -u)" = 0 ] || skip "needs root: Dovecot's auth worker and a PAM service file"
id dovecot >/dev/null 2>&1 && id dovenull >/dev/null 2>&1 || skip "users dovecot/dovenull missing (dovecot-core)"
[ -x "$LK_BUILDDIR/latchkeyd" ] || die "latchkeyd not built"
MOD=$LK_BUILDDIR/.libs/pam_latchkey.so
[ -f "$MOD" ] || die "$MOD not built"
need_cli

SVCNAME=dovecot-lk$$
PAMFILE=/etc/pam.d/$SVCNAME
cleanup_dovecot() {
    [ -n "${DOVE_PID:-}" ] && kill "$DOVE_PID" 2>/dev/null && wait "$DOVE_PID" 2>/dev/null
    rm -f "$PAMFILE"
}
CLEANUP_HOOKS+=(cleanup_dovecot)

write_config
init_store
start_latchkeyd
new_user 100 --login alice
new_key 100
A_ID=$KEY_ID
A_SECRET=$KEY_SECRET
new_apikey 100 imap --scope imap
A_AK=$APIKEY
new_user 200 --login bob
new_apikey 200 imap-bob --scope imap
B_AK=$APIKEY

# doc/dovecot.md's recipe, its two lines read from the page (module path and
# socket from this build).
RECIPE=$(grep -E '^(auth|account) +required +pam_latchkey\.so ' "$LK_SRCDIR/doc/dovecot.md" |
    sed -e "s|pam_latchkey\.so|$MOD|" -e "s|socket=/run/latchkey/latchkeyd\.sock|socket=$LKD_SOCK|")
[ "$(printf '%s\n' "$RECIPE" | grep -c "^\(auth\|account\) .*socket=$LKD_SOCK mode=any service=imap\$")" = 2 ] ||
    die "doc/dovecot.md has no auth and account line of pam_latchkey.so"
printf '%s\n' "$RECIPE" >"$PAMFILE"

mkdir -p "$TMP/dovecot/run" "$TMP/mail"
chmod 755 "$TMP/dovecot" "$TMP/dovecot/run"
chown dovecot "$TMP/mail"
start_dovecot() {
    local port=$((24000 + $$ % 20000)) i
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        cat >"$TMP/dovecot/dovecot.conf" <<CONF
base_dir = $TMP/dovecot/run
state_dir = $TMP/dovecot/state
log_path = $TMP/dovecot/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# the test's refusals need no tarpit (each login also comes from its own
# loopback address: Dovecot's per-address penalty grows to 15 s)
auth_failure_delay = 0
# the mail user is the system user dovecot (a test has no mail users of its own)
first_valid_uid = 1
# Dovecot lowercases user names by default; latchkey ids are case-sensitive.
auth_username_format = %u
passdb {
  driver = pam
  args = $SVCNAME
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$TMP/mail/%u
}
mail_location = maildir:~/Maildir
$([ -n "$ASAN_RT" ] && printf '%s\n' "import_environment = TZ LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS" \
    "default_vsz_limit = 0")
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
CONF
        env LD_LIBRARY_PATH="$LD_LIBRARY_PATH" ${ASAN_RT:+LD_PRELOAD="$ASAN_RT"} \
            ${ASAN_RT:+ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0:log_path=$TMP/asan"} \
            "$DOVECOT" -F -c "$TMP/dovecot/dovecot.conf" 2>>"$TMP/dovecot/stderr" &
        DOVE_PID=$!
        for i in $(seq 50); do
            grep -q "starting up" "$TMP/dovecot/dovecot.log" 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
                { PORT=$port; return 0; }
            kill -0 "$DOVE_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill "$DOVE_PID" 2>/dev/null
        wait "$DOVE_PID" 2>/dev/null
        DOVE_PID=
        port=$((port + 1))
    done
    cat "$TMP/dovecot/dovecot.log" "$TMP/dovecot/stderr" >&2
    die "dovecot did not start"
}
# The module built with the shared ASan runtime (tests/ci/sanitize.sh):
# preload it, as sshd.sh does (and let Dovecot pass it on: its master
# gives its processes only the environment import_environment names, and
# ASan's shadow memory needs no vsz_limit: the sanitizer run only).
ASAN_RT=$(ldd "$MOD" 2>/dev/null | awk '/libclang_rt\.asan/ {print $3}')
start_dovecot

echo 10 >"$TMP/src"
imap() { # USER PASSWORD: curl's exit status (0 logged in, 67 login denied)
    local SRC=$(($(cat "$TMP/src") + 1)) # runs in $(...): the counter lives in a file
    echo "$SRC" >"$TMP/src"
    printf 'user = "%s:%s"\n' "$1" "$2" >"$TMP/curl.cfg"
    timeout 30 curl -s --interface "127.0.0.$SRC" -K "$TMP/curl.cfg" "imap://127.0.0.1:$PORT/" >/dev/null 2>>"$TMP/curl.err"
    echo $?
}

check "IMAP login with the account's API key" 0 "$(imap alice "$A_AK")"
check "IMAP login with SecretId:SecretKey" 0 "$(imap alice "$A_ID:$A_SECRET")"
a1=$(lkd_stat Argon2Verifies)
check "IMAP login again with the same key" 0 "$(imap alice "$A_AK")"
check "the second login of a key costs no Argon2id (service counters)" 0 "$(( $(lkd_stat Argon2Verifies) - a1 ))"
check "another account's key refused" 67 "$(imap alice "$B_AK")"
check "a key as another login refused" 67 "$(imap bob "$A_AK")"
check "a wrong secret refused" 67 "$(imap alice "$(wrong_last "$A_AK")")"
check "a user name in another case is another user (auth_username_format = %u)" 67 "$(imap ALICE "$A_AK")"
lk apikey disable "$(printf '%s' "$A_AK" | cut -c1-15)" >/dev/null || die "apikey disable"
check "a key disabled with the admin tool is refused at the next login" 67 "$(imap alice "$A_AK")"
check "the pair still works" 0 "$(imap alice "$A_ID:$A_SECRET")"

leaked=
for secret in "$A_SECRET" "$A_AK" "$B_AK"; do
    grep -qaF -- "$secret" "$TMP/dovecot/dovecot.log" "$TMP/latchkeyd.log" && leaked="$leaked ${secret:0:4}..."
done
check "no secret in Dovecot's or latchkeyd's log" "" "$leaked"
check "no sanitizer report from the module in Dovecot" "" "$(cat "$TMP"/asan.* 2>/dev/null | head -5)"
finish
