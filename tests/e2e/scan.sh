#!/bin/sh
# scan --disable acts only on a value proven to be the key's own (issue 19,
# finding 7). The checksum is public: anyone can write "lk-<a victim's id>"
# + 36 random characters + a valid checksum, or a SecretId (public) beside a
# made-up SecretKey. Such a value is reported as ForgedOrRotated and
# disables nothing; a SecretId with no SecretKey beside it disables nothing
# (NoSecretKey); a real leak is still disabled, also when the key follows a
# URL-encoded '=' (%3D) or a JSON or C escape (\n, \t, \x3d).
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

# rand N: N random base62 characters
rand() { head -c 400 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' | head -c "$1"; }

# forge BODY: BODY followed by its checksum, the public scheme of
# core/keyfmt.c (CRC-32/IEEE of everything before it, 6 base62 digits; gzip's
# trailer holds the same CRC, little-endian)
forge() {
    printf '%s' "$1"
    printf '%s' "$1" | gzip -c | tail -c 8 | od -An -tu1 -N4 | awk '{
        c = $1 + $2 * 256 + $3 * 65536 + $4 * 16777216 # (one awk: mawk prints 2^31 and up as %.6g)
        d = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        s = ""
        for (i = 0; i < 6; i++) { s = substr(d, c % 62 + 1, 1) s; c = int(c / 62) }
        printf "%s", s }'
}

# verify_both EXIT: the API key and the pair verify (0) or are refused (3)
verify_both() {
    expect_exit_in "$AK" "$1" lk verify --apikey
    expect_exit_in "$SK" "$1" lk verify "$SID"
}

scan() {
    expect_exit 0 lk user add 100001
    new_key 100001
    new_apikey 100001 prod
    # the forger is right: the checksum of a real key's body is its end
    [ "$(forge "${AK%??????}")" = "$AK" ] || fail "forge() does not compute the key checksum"
    [ "$(forge "${SK%??????}")" = "$SK" ] || fail "forge() does not compute the key checksum"
    FAK=$(forge "$AKID$(rand 36)")
    FSK=$(forge "LKSK$(rand 36)")
    [ ${#FAK} -eq 57 ] && [ ${#FSK} -eq 46 ] || fail "forged values of the wrong length"

    # ---- forged values naming real keys: found, reported, nothing done
    printf 'Authorization: Bearer %s\nSecretId=%s\nSecretKey=%s\n' "$FAK" "$SID" "$FSK" >"$WORK/cap/forged.txt"
    expect_exit 0 lk scan "$WORK/cap/forged.txt" # well-formed: found
    out_has "^ApiKey  *$AKID  *100001  *Active  *-  "
    expect_exit 0 lk scan --disable "$WORK/cap/forged.txt"
    out_has "^ApiKey  *$AKID  *100001  *Active  *ForgedOrRotated  *.*forged.txt:1\$"
    out_has "^SecretId  *$SID  *100001  *Active  *ForgedOrRotated  *.*forged.txt:2\$"
    out_has '^SecretKey  *-  *-  *OwnerUnknown  *-  *.*forged.txt:3$'
    expect_exit 0 lk --json scan --disable "$WORK/cap/forged.txt"
    out_has_str "\"KeyId\":\"$AKID\",\"Uin\":100001,\"Status\":\"Active\",\"Action\":\"ForgedOrRotated\""
    out_lacks_str '"Action":"Disabled"'
    verify_both 0
    expect_exit 0 lk audit # the store's whole log: nothing was disabled
    out_lacks_str '.disable'

    # ---- a SecretId alone is public: nothing to prove a leak
    printf 'the key %s was rotated\n' "$SID" >"$WORK/cap/id-only.txt"
    expect_exit 0 lk scan --disable "$WORK/cap/id-only.txt"
    out_has "^SecretId  *$SID  *100001  *Active  *NoSecretKey  "
    expect_exit_in "$SK" 0 lk verify "$SID"

    # ---- escapes before the key: URL-encoded '=', JSON \n and \t, C \x3d
    printf 'GET /cb?state=1&token%%3D%s HTTP/1.1\n' "$AK" >"$WORK/cap/esc.txt"
    printf '{"msg":"leaked:\\n%s\\t%s"}\n' "$SID" "$SK" >>"$WORK/cap/esc.txt"
    printf 'char k[] = "key\\x3d%s";\n' "$FAK" >>"$WORK/cap/esc.txt"
    expect_exit 0 lk scan "$WORK/cap/esc.txt"
    out_has "^ApiKey  *$AKID  .*esc.txt:1\$"
    out_has "^SecretId  *$SID  .*esc.txt:2\$"
    out_has '^SecretKey  .*esc.txt:2$'
    out_has "^ApiKey  *$AKID  .*esc.txt:3\$"
    expect_exit 0 lk scan --disable "$WORK/cap/esc.txt"
    out_has "^ApiKey  *$AKID  *100001  *Inactive  *Disabled  *.*esc.txt:1\$"
    out_has "^SecretId  *$SID  *100001  *Inactive  *Disabled  *.*esc.txt:2\$"
    out_has "^SecretKey  *$SID  *100001  *Inactive  *-  *.*esc.txt:2\$" # proven with its SecretId
    out_has "^ApiKey  *$AKID  *100001  *Inactive  *ForgedOrRotated  *.*esc.txt:3\$"
    out_lacks_str "$AK"
    out_lacks_str "$SK"
    verify_both 3
    expect_exit 0 lk audit --key "$SID"
    out_has "key\.disable  *$SID  *100001  *leaked  *status Active → Inactive\$"
    # a second run: already done, still proven
    expect_exit 0 lk scan --disable "$WORK/cap/esc.txt"
    out_has "^SecretId  *$SID  .*AlreadyDisabled  "
    out_has "^ApiKey  *$AKID  .*AlreadyDisabled  *.*esc.txt:1\$"
}

for_each_backend scan
