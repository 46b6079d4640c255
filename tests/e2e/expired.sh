#!/bin/sh
# expired.sh — a key past its ExpireTime reads as Expired wherever a person
# reads its status (key list, key show, apikey list, apikey show), never as
# Active; --json keeps Tencent's Status (Active/Inactive) and adds
# "Expired": true for such a key only. A disabled key reads Inactive,
# expired or not.
. "$(dirname "$0")/lib.sh"

expired() {
    expect_exit 0 lk user add 100
    new_key 100
    SID_X=$SID SK_X=$SK
    new_key 100
    SID_A=$SID
    new_apikey 100 old
    AKID_X=$AKID
    new_apikey 100 live
    AKID_A=$AKID
    # --expires takes only a future time: one second ahead, then wait for
    # the clock to pass it (read after the edits: under load this waits
    # longer, never fails sooner)
    expect_exit 0 lk key edit "$SID_X" --expires 1s
    expect_exit 0 lk apikey edit "$AKID_X" --expires 1s
    expire_at=$(($(date +%s) + 1))
    while [ "$(date +%s)" -le "$expire_at" ]; do sleep 0.2; done
    expect_exit_in "$SK_X" 3 lk verify "$SID_X" # what the status below must agree with
    expect_error 'AuthFailure\.SecretIdExpired'

    expect_exit 0 lk key list 100
    out_matches_ere "^$SID_X +Expired +"
    out_matches_ere "^$SID_A +Active +"
    expect_exit 0 lk key show "$SID_X"
    out_has '^Status: *Expired$'
    expect_exit 0 lk --json key list 100
    out_matches_ere "\"AccessKeyId\":\"$SID_X\",\"Status\":\"Active\",[^}]*,\"ExpireTime\":\"[^\"]*\",\"Expired\":true\}"
    out_matches_ere "\"AccessKeyId\":\"$SID_A\",\"Status\":\"Active\",[^}]*,\"ExpireTime\":null\}"

    expect_exit 0 lk apikey list 100
    out_matches_ere "^$AKID_X +old +Expired +"
    out_matches_ere "^$AKID_A +live +Active +"
    expect_exit 0 lk apikey list 100 --wide
    out_matches_ere "^$AKID_X +old +[^ ]+ +Expired +"
    expect_exit 0 lk apikey show "$AKID_X"
    out_has '^Status: *Expired$'
    expect_exit 0 lk --json apikey list 100
    out_matches_ere "\"KeyId\":\"$AKID_X\",[^}]*\"Status\":\"Active\",[^}]*\"Expired\":true,"
    out_matches_ere "\"KeyId\":\"$AKID_A\",[^}]*\"Status\":\"Active\","
    out_lacks_str "\"Expired\":false"

    # disabled wins: the key is refused for that first
    expect_exit 0 lk key disable "$SID_X"
    expect_exit 0 lk key list 100
    out_matches_ere "^$SID_X +Inactive +"
    # "never" makes it Active again
    expect_exit 0 lk key enable "$SID_X"
    expect_exit 0 lk key edit "$SID_X" --expires never
    expect_exit 0 lk key list 100
    out_matches_ere "^$SID_X +Active +"
}

for_each_backend expired
