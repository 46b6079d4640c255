#!/bin/bash
# sshd.sh — pam_latchkey.so in a real OpenSSH sshd on 127.0.0.1 and a free
# port, with its own sshd_config and a private PAM service: sshd names its
# PAM service after its program name, so a symlinked binary reads
# /etc/pam.d/<that name> (written here, removed at exit). Proves doc/sshd.md's
# recipe: a bound Unix user logs in with its API key and with its
# SecretId:SecretKey pair, is refused with another account's key, and a
# public-key login of a user latchkey does not know still works.
# Needs root (Unix users, /etc/pam.d) and openssh-server/-client.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"

SSHD=$(command -v sshd || ls /usr/sbin/sshd 2>/dev/null)
[ -n "$SSHD" ] && [ -x "$SSHD" ] || skip "sshd not found (apt-get install openssh-server)"
command -v ssh >/dev/null || skip "ssh client not found (apt-get install openssh-client)"
[ "$(id -u)" = 0 ] || skip "needs root: creates Unix users and a PAM service file"
command -v useradd >/dev/null || skip "useradd not found"
MOD=$LK_BUILDDIR/.libs/pam_latchkey.so
[ -f "$MOD" ] || die "$MOD not built"
need_cli

# Unique names: several runs (or CI's sanitizer pass) may share the machine.
TAG=lk$$
SVCNAME=sshd-$TAG
PAMFILE=/etc/pam.d/$SVCNAME
U_ALICE=${TAG}a # bound to root account 100
U_BOB=${TAG}b   # bound to root account 200
U_DAVE=${TAG}d  # unknown to latchkey: public key only
cleanup_sshd() {
    [ -f "$TMP/sshd.pid" ] && kill "$(cat "$TMP/sshd.pid")" 2>/dev/null
    rm -f "$PAMFILE"
    for u in "$U_ALICE" "$U_BOB" "$U_DAVE"; do userdel "$u" 2>/dev/null; done
}
CLEANUP_HOOKS+=(cleanup_sshd)
for u in "$U_ALICE" "$U_BOB" "$U_DAVE"; do
    useradd -M -d /nonexistent -s /bin/sh -p '*' "$u" || die "useradd $u"
done

write_config
init_store
chmod 755 "$TMP" # sshd's privilege-separated child reads nothing here, but the monitor runs as root
new_user 100 --login "$U_ALICE"
new_key 100
A_ID=$KEY_ID
A_SECRET=$KEY_SECRET
new_apikey 100 ssh-alice --scope ssh
A_AK=$APIKEY
A_AK_ID=$APIKEY_ID
new_user 200 --login "$U_BOB"
new_apikey 200 ssh-bob --scope ssh
B_AK=$APIKEY

# doc/sshd.md's recipe, its two lines read from the page, with this build's
# module path and configuration.
RECIPE=$(grep -E '^(auth|account) +required +pam_latchkey\.so ' "$LK_SRCDIR/doc/sshd.md" |
    sed -e "s|pam_latchkey\.so|$MOD|" -e "s|config=/etc/latchkey/latchkey\.yaml|config=$CONF|")
[ "$(printf '%s\n' "$RECIPE" | grep -c "^\(auth\|account\) .*config=$CONF mode=any service=ssh\$")" = 2 ] ||
    die "doc/sshd.md has no auth and account line of pam_latchkey.so"
cat >"$PAMFILE" <<PAM
$RECIPE
account  required  pam_unix.so
session  required  pam_permit.so
PAM

ssh-keygen -q -t ed25519 -N '' -f "$TMP/hostkey" || die "ssh-keygen host"
ssh-keygen -q -t ed25519 -N '' -f "$TMP/dave_key" || die "ssh-keygen user"
mkdir -p "$TMP/keys" /run/sshd
cp "$TMP/dave_key.pub" "$TMP/keys/$U_DAVE"
chmod 644 "$TMP/keys/$U_DAVE"
ln -s "$SSHD" "$TMP/$SVCNAME"

# A module built with the shared ASan runtime (tests/ci/sanitize.sh) loaded
# late into sshd cannot map its shadow memory: preload the runtime instead.
# sshd's own allocations are not ours to leak-check (pam.sh does the module's).
ASAN_RT=$(ldd "$MOD" 2>/dev/null | awk '/libclang_rt\.asan/ {print $3}')
start_sshd() {
    local port=$((22000 + $$ % 20000)) i
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        cat >"$TMP/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $TMP/hostkey
PidFile $TMP/sshd.pid
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile $TMP/keys/%u
StrictModes no
UseDNS no
LogLevel VERBOSE
CONF
        rm -f "$TMP/sshd.pid"
        env LD_LIBRARY_PATH="$LD_LIBRARY_PATH" ${ASAN_RT:+LD_PRELOAD="$ASAN_RT" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0:log_path=$TMP/asan"} \
            "$TMP/$SVCNAME" -f "$TMP/sshd_config" -E "$TMP/sshd.log"
        for i in $(seq 50); do
            [ -s "$TMP/sshd.pid" ] && grep -q "Server listening" "$TMP/sshd.log" 2>/dev/null && { PORT=$port; return 0; }
            grep -q "Address already in use" "$TMP/sshd.log" 2>/dev/null && break
            sleep 0.1
        done
        [ -f "$TMP/sshd.pid" ] && kill "$(cat "$TMP/sshd.pid")" 2>/dev/null
        port=$((port + 1))
    done
    cat "$TMP/sshd.log" >&2
    die "sshd did not start"
}
start_sshd

# The password prompt is answered by SSH_ASKPASS from a file (never argv).
printf '#!/bin/sh\ncat "%s"\n' "$TMP/password" >"$TMP/askpass"
chmod 700 "$TMP/askpass"
SSH_OPTS=(-p "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
    -o ConnectTimeout=10 -o NumberOfPasswordPrompts=1)
login_with() { # USER PASSWORD: prints the remote command's output
    printf '%s\n' "$2" >"$TMP/password"
    chmod 600 "$TMP/password"
    env SSH_ASKPASS="$TMP/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 timeout 30 \
        ssh "${SSH_OPTS[@]}" -o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no \
        "$1@127.0.0.1" echo logged-in-as-\$USER </dev/null 2>>"$TMP/ssh.err"
}

check "bound user logs in with its account's API key" "logged-in-as-$U_ALICE" "$(login_with "$U_ALICE" "$A_AK")"
check "bound user logs in with its SecretId:SecretKey pair" "logged-in-as-$U_ALICE" \
    "$(login_with "$U_ALICE" "$A_ID:$A_SECRET")"
check "bound user refused with another account's API key" "" "$(login_with "$U_ALICE" "$B_AK")"
check "other user refused with alice's API key" "" "$(login_with "$U_BOB" "$A_AK")"
check "root refused with a valid API key" "" "$(login_with root "$A_AK")"
# The refusals are latchkey's identity check, not some other failure.
check_match "the key's access records show the identity refusals" "AuthFailure\.LoginNotMatch" \
    "$(lk records "$A_AK_ID")"
check "bound user refused with a wrong secret" "" "$(login_with "$U_ALICE" "$A_ID:$(wrong_last "$A_SECRET")")"
check "unknown user refused" "" "$(login_with "${TAG}nobody" "$A_AK")"
check "public-key login of a user latchkey does not know" "logged-in-as-$U_DAVE" \
    "$(timeout 30 ssh "${SSH_OPTS[@]}" -o BatchMode=yes -o PreferredAuthentications=publickey -o IdentitiesOnly=yes \
        -i "$TMP/dave_key" "$U_DAVE@127.0.0.1" echo logged-in-as-\$USER </dev/null 2>>"$TMP/ssh.err")"
lk apikey disable "$A_AK_ID" >/dev/null || die "apikey disable"
check "disabled API key refused at the next login" "" "$(login_with "$U_ALICE" "$A_AK")"
check "the pair still works after the API key is disabled" "logged-in-as-$U_ALICE" \
    "$(login_with "$U_ALICE" "$A_ID:$A_SECRET")"

# ---- the same logins through latchkeyd (socket=): sshd's PAM process never
# opens the store, and the service's warm cache outlives each login's process.
if [ -x "$LK_BUILDDIR/latchkeyd" ]; then
    start_latchkeyd
    cat >"$PAMFILE" <<PAM
auth     required  $MOD socket=$LKD_SOCK mode=any service=ssh
account  required  $MOD socket=$LKD_SOCK mode=any service=ssh
account  required  pam_unix.so
session  required  pam_permit.so
PAM
    a0=$(lkd_stat Argon2Verifies)
    check "socket=: bound user logs in with its pair" "logged-in-as-$U_ALICE" "$(login_with "$U_ALICE" "$A_ID:$A_SECRET")"
    a1=$(lkd_stat Argon2Verifies)
    check "socket=: the second login of the same key" "logged-in-as-$U_ALICE" "$(login_with "$U_ALICE" "$A_ID:$A_SECRET")"
    a2=$(lkd_stat Argon2Verifies)
    check "socket=: the first login cost one Argon2id, the second none (service counters)" "1 0" \
        "$((a1 - a0)) $((a2 - a1))"
    check "socket=: another account's key refused" "" "$(login_with "$U_BOB" "$A_ID:$A_SECRET")"
    check "socket=: public-key login of a user latchkey does not know" "logged-in-as-$U_DAVE" \
        "$(timeout 30 ssh "${SSH_OPTS[@]}" -o BatchMode=yes -o PreferredAuthentications=publickey \
            -o IdentitiesOnly=yes -i "$TMP/dave_key" "$U_DAVE@127.0.0.1" echo logged-in-as-\$USER </dev/null \
            2>>"$TMP/ssh.err")"
    lk key disable "$A_ID" >/dev/null || die "key disable"
    check "socket=: a key disabled with the admin tool is refused at the next login" "" \
        "$(login_with "$U_ALICE" "$A_ID:$A_SECRET")"
else
    echo "note: latchkeyd not built: the socket= logins were not run"
fi

leaked=
for secret in "$A_SECRET" "$A_AK" "$B_AK"; do
    grep -qaF -- "$secret" "$TMP/sshd.log" "$TMP/ssh.err" $([ -f "$TMP/latchkeyd.log" ] && echo "$TMP/latchkeyd.log") &&
        leaked="$leaked ${secret:0:4}..."
done
check "no secret in sshd's or latchkeyd's log" "" "$leaked"
# (sshd's stderr is gone once it daemonizes: ASan writes to log_path)
check "no sanitizer report from the module in sshd" "" "$(cat "$TMP"/asan.* 2>/dev/null | head -5)"
finish
