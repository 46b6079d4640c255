#!/bin/sh
# output.sh — what a person reads (issue 23), in a zone that is not UTC:
#   - one time format: tables, listings, the audit and errors in local time
#     with its offset ("2027-01-31 20:00:00 +0800"); --json keeps Tencent's
#     "YYYY-MM-DD hh:mm:ss" for Tencent's fields (CreateTime, ExpireTime) and
#     ISO 8601 with the zone for latchkey's own (the audit's Time);
#   - the audit says what changed, from -> to, in words, names the host, and
#     never shows epoch seconds or raw fields; store copy is audited with its
#     source, target and counts; an entry written before all this still reads;
#   - apikey list fits 100 columns (--wide: every column); show outputs align
#     their longest labels; scan and expiring that find nothing say so; key edit
#     --expires never echoes the new value.
. "$(dirname "$0")/lib.sh"

HOST=$(uname -n)

# err_matches_ere ERE: stderr matches.
err_matches_ere() { printf '%s\n' "$ERR" | grep -Eq -e "$1" || fail "stderr does not match /$1/"; }

# labels_aligned: every "Label: value" line of $OUT has its value in one column.
labels_aligned() {
    _cols=$(printf '%s\n' "$OUT" | sed -n 's/^\([A-Za-z]*: *\).*/\1/p' | awk '{ print length($0) }' | sort -u)
    [ "$(printf '%s\n' "$_cols" | wc -l)" = 1 ] || fail "labels of different widths: values start at columns $_cols"
}

readable() {
    TZ=Asia/Shanghai
    export TZ

    # ---- times: local with the offset in text, Tencent's shape in JSON
    expect_exit 0 lk user add 100
    expect_exit 0 lk --json key create 100 --expires 2027-01-31T12:00:00Z
    SID=$(jget AccessKeyId)
    out_has_str '"ExpireTime":"2027-01-31 20:00:00"'
    out_matches_ere '"CreateTime":"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"'
    expect_exit 0 lk key show "$SID"
    out_has '^ExpireTime: *2027-01-31 20:00:00 +0800$'
    out_matches_ere '^CreateTime: +[0-9-]{10} [0-9:]{8} \+0800$'
    labels_aligned
    expect_exit 0 lk key list 100
    out_matches_ere "^$SID +Active +[0-9-]{10} [0-9:]{8} \\+0800 +- +2027-01-31 20:00:00 \\+0800\$"
    expect_exit 0 lk user show 100
    out_matches_ere '^CreateTime: +[0-9-]{10} [0-9:]{8} \+0800$'
    # an error that names a time
    expect_exit 2 lk key create 100 --expires 2001-01-01
    err_matches_ere "'2001-01-01' is not in the future \\(it is now [0-9-]{10} [0-9:]{8} \\+0800\\)"

    # ---- key edit --expires never: the new value echoed
    expect_exit 0 lk key edit "$SID" --expires never
    [ "$OUT" = "Updated access key $SID: ExpireTime never." ] || fail "key edit --expires never echoed '$OUT'"
    expect_exit 0 lk key edit "$SID" --expires 2027-01-31T12:00:00Z
    [ "$OUT" = "Updated access key $SID: ExpireTime 2027-01-31 20:00:00 +0800." ] ||
        fail "key edit --expires echoed '$OUT'"

    # ---- the audit: from -> to in words, the host, local time
    expect_exit 0 lk audit --key "$SID"
    out_has '^Time  *Host  *Uid  *User  *Caller  *RequestId  *Action  *Target  *Uin  *Reason  *Fields$'
    out_matches_ere "^[0-9-]{10} [0-9:]{8} \\+0800 +$HOST +[0-9]+ .*key\\.create +$SID +100 +- +expiry 2027-01-31 20:00:00 \\+0800\$"
    out_matches_ere "key\\.edit +$SID +100 +- +expiry 2027-01-31 20:00:00 \\+0800 → never\$"
    out_matches_ere "key\\.edit +$SID +100 +- +expiry never → 2027-01-31 20:00:00 \\+0800\$"
    expect_exit 0 lk --json audit --key "$SID"
    json_ok
    out_matches_ere "\"Time\":\"[0-9-]{10}T[0-9:]{8}\\+08:00\",\"Host\":\"$HOST\","
    out_has_str '"Fields":"expiry 2027-01-31 20:00:00 +0800 → never"'

    new_apikey 100 deploy
    expect_exit 0 lk apikey edit "$AKID" --scope cos,cvm --rate-limit 6000/1m
    out_has "^Updated API key $AKID\\.\$"
    out_has '^Scope: *cos,cvm$' # the new values, as user edit shows them
    out_has '^RateLimit: *6000/60s$'
    expect_exit 0 lk apikey edit "$AKID" --expires 2027-01-31T12:00:00Z --description 'the deploy bot'
    expect_exit 0 lk audit --key "$AKID"
    out_has "apikey\\.create .* name 'deploy'; scope all; IP allowlist any; expiry never; rate limit none\$"
    out_has "apikey\\.edit .* scope all → cos,cvm; rate limit none → 6000/1m\$"
    out_has "apikey\\.edit .* description '' → 'the deploy bot'; expiry never → 2027-01-31 20:00:00 +0800\$"

    # ---- rotate, reroll: labels longer than the old label column align
    expect_exit 0 lk key rotate "$SID" --grace 1h
    out_has '^RotatedExpireTime: '
    labels_aligned
    SID_NEW=$(printf '%s\n' "$OUT" | sed -n 's/^SecretId: *//p')
    expect_exit 0 lk apikey reroll "$AKID" --grace 1h
    out_has '^RerolledExpireTime: '
    labels_aligned
    AKID_NEW=$(printf '%s\n' "$OUT" | sed -n 's/^KeyId: *//p')
    expect_exit 0 lk audit --key "$AKID"
    out_has "apikey\\.reroll .* replaced by $AKID_NEW; expiry 2027-01-31 20:00:00 +0800 → [0-9-]* [0-9:]* +0800\$"
    expect_exit 0 lk audit --key "$AKID_NEW"
    out_has "apikey\\.create .* rerolled from $AKID (expiry carried over); name 'deploy'; description 'the deploy bot'; scope cos,cvm; "

    # ---- an error naming a time after revoke
    expect_exit 0 lk revoke --user 100 --reason drill
    expect_exit 2 lk key rotate "$SID_NEW" --grace 1h
    err_matches_ere "was disabled by 'revoke --user' at [0-9-]{10} [0-9:]{8} \\+0800"

    # ---- never epoch seconds or raw internals in the audit
    expect_exit 0 lk audit
    out_has "revoke  *100  *100  *drill  *disabled 4 key(s); members 0\$"
    for raw in 'expires=' 'rate=' 'scope=' 'status=' '=1'; do
        out_lacks_str "$raw"
    done
    ! printf '%s\n' "$OUT" | grep -Eq '(^|[^0-9])1[0-9]{9}([^0-9]|$)' || fail "the audit shows epoch seconds"

    # ---- apikey list: 100 columns by default, --wide for every column
    new_apikey 100 a-very-long-api-key-name-for-the-deploy-pipeline --scope cos,cvm,tke,cdn,scf,cls,vpc \
        --rate-limit 1000000000/86400s --expires 2030-01-01 --allow-ip 10.0.0.0/8,192.168.0.0/16
    expect_exit 0 lk apikey disable "$AKID"
    expect_exit 0 lk apikey list 100
    out_has '^KeyId  *Name  *Status  *Scope  *ExpireTime  *RateLimit$'
    out_matches_ere "^$AKID +a-very-long-… +Inactive +cos,cvm,tke… +2030-01-01 08:00:00 \\+0800 +1000000000/86400s\$"
    widest=$(printf '%s\n' "$OUT" | sed 's/…/./g' | awk '{ if (length($0) > w) w = length($0) } END { print w }')
    [ "$widest" -le 100 ] || fail "apikey list is $widest columns wide"
    expect_exit 0 lk apikey list 100 --wide
    out_has '^KeyId  *Name  *Key  *Status  *Scope  *AllowIp  *CreateTime  *LastAccessTime  *ExpireTime  *RateLimit$'
    out_has_str ' a-very-long-api-key-name-for-the-deploy-pipeline '
    out_has_str ' cos,cvm,tke,cdn,scf,cls,vpc '
    out_has_str ' 10.0.0.0/8,192.168.0.0/16 '
    expect_exit 2 lk key list 100 --wide
    err_has -- '--wide'

    # ---- scan that finds nothing says so
    printf 'nothing to see here\n' >"$WORK/cap/clean.txt"
    expect_exit 1 lk scan "$WORK/cap/clean.txt"
    [ "$OUT" = "No latchkey credentials found." ] || fail "scan of a clean file printed '$OUT'"
    expect_exit 1 lk --json scan "$WORK/cap/clean.txt"
    out_has_str '"Found":[],"TotalCount":0'
    expect_exit 1 lk expiring --within 1s
    [ "$OUT" = "No key expires within 1s." ] || fail "expiring with nothing to show printed '$OUT'"

    # ---- store copy: one entry naming source, target and counts
    write_config "$DIR/copy.yaml" lmdb "$DIR/copy.mdb"
    expect_exit 0 "$LATCHKEY" --config "$DIR/copy.yaml" init
    expect_exit 0 "$LATCHKEY" store copy --from "$CFG" --to "$DIR/copy.yaml"
    expect_exit 0 "$LATCHKEY" --config "$DIR/copy.yaml" audit
    src=$STORE # a database: its server and name, never a conninfo
    [ "$BACKEND" = postgresql ] && src="$PG_DIR:$PG_PORT/lk_${TESTNAME}_$PG_DBN"
    out_has "store\\.copy  *-  *0  *-  *from $BACKEND $src to lmdb $DIR/copy\\.mdb; copied [0-9]* record(s): 1 user(s), 2 access key(s), 3 API key(s), [0-9]* access record(s), [0-9]* audit entries\$"
    out_matches_ere "^[0-9-]{10} [0-9:]{8} \\+0800 +$HOST +[0-9]+ +[^ ]+ +- +- +store\\.copy "

    # ---- an entry written before issue 23 (no host, raw fields) still reads
    if [ "$BACKEND" = flatfile ]; then
        printf 'au/0000000065f0000000000000\ttime=1710227456 uid=0 user=root action=key.edit target=%s uin=100 fields=expires=1801353600 reason=\n' \
            "$SID" >>"$STORE"
        expect_exit 0 lk audit --key "$SID"
        out_has "^2024-03-12 15:10:56 +0800  *-  *0  *root  *-  *-  *key\\.edit  *$SID  *100  *-  *expires=1801353600\$"
        expect_exit 0 lk --json audit --key "$SID"
        out_has_str '{"Time":"2024-03-12T15:10:56+08:00","Host":null,"Uid":0,"User":"root","Action":"key.edit"'
    fi
}

for_each_backend readable
