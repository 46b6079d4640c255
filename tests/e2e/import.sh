#!/bin/sh
# latchkey import: users and keys from CSV or JSON lines in one transaction.
# The secrets come out once (stdout, or a new 0600 file that is never
# overwritten) and verify; a bad line, a duplicate user or a key over the
# limit names its line and leaves the store as it was.
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

# the store's users, keys and audit log, as the tool shows them
state() {
    for _u in $(lk user list | awk 'NR > 1 {print $1}'); do
        lk user show "$_u" 2>&1 || :
        lk key list "$_u" 2>&1 || :
        lk apikey list "$_u" 2>&1 || :
    done
    lk audit 2>&1 || :
}

import_tests() {
    IN=$WORK/in.$BACKEND
    mkdir -p "$IN"

    # ---- CSV: users (root, sub-user with a login), API keys and an access key
    cat >"$IN/ok.csv" <<'CSV'
type,uin,kind,root,login,self-service,name,description,scope,allow-ip,expires,rate-limit
# the accounts
user,100,,,alice,,,,,,,
user,101,sub-user,100,bob,read,,,,,,
apikey,100,,,,,ci,"deploys, nightly",svc.a,10.0.0.0/8,90d,100/1s
apikey,100,,,,,"quoted ""name""",,all,,never,
key,101,,,,,,,,,,
CSV
    expect_exit 0 lk import "$IN/ok.csv"
    err_has_str "imported 2 user(s), 2 API key(s) and 1 access key(s)"
    err_has_str "only time"
    out_has_str "line,type,uin,name,id,secret"
    [ "$(printf '%s\n' "$OUT" | wc -l)" -eq 4 ] || fail "expected a header and 3 secret lines"
    AK=$(printf '%s\n' "$OUT" | grep '^5,apikey,100,ci,' | cut -d, -f6)
    AK2=$(printf '%s\n' "$OUT" | grep '^6,apikey,100,"quoted ""name""",' | awk -F, '{print $NF}')
    SID=$(printf '%s\n' "$OUT" | grep '^7,key,101,,' | cut -d, -f5)
    SK=$(printf '%s\n' "$OUT" | grep '^7,key,101,,' | cut -d, -f6)
    [ ${#AK} -eq 57 ] && [ ${#AK2} -eq 57 ] || fail "API keys missing from the output"
    [ ${#SID} -eq 36 ] && [ ${#SK} -eq 46 ] || fail "access key missing from the output"
    expect_exit_in "$AK" 0 lk verify --apikey --service svc.a --ip 10.1.2.3
    expect_exit_in "$AK" 3 lk verify --apikey --service svc.b --ip 10.1.2.3
    expect_exit_in "$AK2" 0 lk verify --apikey
    expect_exit_in "$SK" 0 lk verify "$SID"
    expect_exit 0 lk user show 101
    out_has "^Kind: *sub-user"
    out_has "^Login: *bob"
    out_has "^SelfService: *read"
    expect_exit 0 lk apikey show --account 100 --name ci
    out_has "^Description: *deploys, nightly"
    out_has "^RateLimit: *100/1s"
    expect_exit 0 lk audit
    out_has_str "store.import"
    out_has_str "imported 2 user(s), 2 API key(s) and 1 access key(s)"
    # each addition's entry is its single command's, in words
    out_has "user\\.add .*kind sub-user; root account 100; login bob; self-service read\$"
    out_has "apikey\\.create .*name 'ci'; description 'deploys, nightly'; scope svc\\.a; IP allowlist 10\\.0\\.0\\.0/8; expiry [0-9-]* [0-9:]* [+-][0-9]*; rate limit 100/1s\$"
    out_has "key\\.create .*expiry never\$"
    out_lacks_str "expires="
    out_lacks_str "users="
    [ "$(printf '%s\n' "$OUT" | grep -c 'apikey.create')" -eq 2 ] || fail "each API key is audited"

    # ---- JSON lines on stdin, secrets to a new 0600 file
    cat >"$IN/ok.jsonl" <<'JSON'
{"type":"user","uin":200,"login":"carol"}
{"type":"apikey","uin":200,"name":"web","scope":["svc.a","svc.b"],"expires":"2099-01-01"}

{"type":"key","uin":"200","expires":null}
JSON
    run_raw "$IN/ok.jsonl" lk import - --secrets-out "$IN/secrets.jsonl"
    [ "$RC" = 0 ] || fail "import from stdin failed"
    out_has "^Users: *1"
    out_has "^ApiKeys: *1"
    out_has "^AccessKeys: *1"
    out_lacks_str '"secret"'
    [ "$(stat -c %a "$IN/secrets.jsonl")" = 600 ] || fail "the secrets file is not 0600"
    grep -q '^{"line":2,"type":"apikey","uin":200,"name":"web","id":"lk-[A-Za-z0-9]*","secret":"lk-' \
        "$IN/secrets.jsonl" || fail "the secrets file lacks the API key"
    grep -q '^{"line":4,"type":"key","uin":200,"name":"","id":"AKID' "$IN/secrets.jsonl" ||
        fail "the secrets file lacks the access key"
    AK=$(sed -n 's/.*"line":2.*"secret":"\([^"]*\)".*/\1/p' "$IN/secrets.jsonl")
    expect_exit_in "$AK" 0 lk verify --apikey --service svc.b
    # never overwritten: refused before anything is imported
    cp "$IN/secrets.jsonl" "$IN/secrets.before"
    printf 'type,uin\nuser,300\n' >"$IN/one.csv"
    expect_exit 2 lk import "$IN/one.csv" --secrets-out "$IN/secrets.jsonl"
    err_has_str "refusing to overwrite"
    cmp -s "$IN/secrets.jsonl" "$IN/secrets.before" || fail "the secrets file was changed"
    expect_exit 1 lk user show 300
    # users alone: no secrets, so nothing on stdout
    expect_exit 0 lk import "$IN/one.csv"
    [ -z "$OUT" ] || fail "an import of users alone printed '$OUT'"
    err_has_str "imported 1 user(s), 0 API key(s) and 0 access key(s)"
    err_lacks_str "only time"
    # with --json the answer holds counts, never a secret
    printf 'type,uin,name\nuser,301,\napikey,301,x\n' >"$IN/j.csv"
    expect_exit 2 lk --json import "$IN/j.csv"
    json_error 'InvalidParameter\.ParamError'
    expect_exit 0 lk --json import "$IN/j.csv" --secrets-out "$IN/j.secrets"
    json_ok
    out_has_str '"ApiKeys":1'
    out_lacks_str "$(sed -n 's/^3,apikey,301,x,lk-[A-Za-z0-9]*,//p' "$IN/j.secrets")"
    note "happy paths ok"

    # ---- a bad line in the middle: named, and nothing is written
    BEFORE=$(state)
    cat >"$IN/bad.csv" <<'CSV'
type,uin,name
user,400,
user,401,
user,abc,
user,402,
CSV
    expect_exit 2 lk import "$IN/bad.csv" --secrets-out "$IN/bad.secrets"
    expect_error 'InvalidParameter\.ParamError'
    err_has_str "line 4: column 'uin': 'abc' is not a UIN"
    err_has_str "nothing was imported"
    [ ! -e "$IN/bad.secrets" ] || fail "a failed import left a secrets file"
    [ "$(state)" = "$BEFORE" ] || fail "a bad line changed the store"
    # a column that does not apply, a wrong field count, an unclosed quote, bad JSON
    printf 'type,uin,name\nuser,410,x\n' >"$IN/b2.csv"
    expect_exit 2 lk import "$IN/b2.csv"
    err_has_str "line 2: column 'name' does not apply to a line of type user"
    printf 'type,uin\nuser,411\nuser,412,extra\n' >"$IN/b3.csv"
    expect_exit 2 lk import "$IN/b3.csv"
    err_has_str "line 3: more fields than the header's 2 columns"
    printf 'type,uin,name\napikey,100,"open\n' >"$IN/b4.csv"
    expect_exit 2 lk import "$IN/b4.csv"
    err_has_str "line 2: a quoted field has no closing quote"
    printf '{"type":"user","uin":413}\n{"type":"user","uin":414,"bogus":1}\n' >"$IN/b5.jsonl"
    expect_exit 2 lk import "$IN/b5.jsonl"
    err_has_str "line 2: unknown member 'bogus'"
    printf 'type,uin,scope,name\napikey,100,"bad scope!",n\n' >"$IN/b6.csv"
    expect_exit 2 lk import "$IN/b6.csv"
    err_has_str "line 2: scope entry 'bad scope!' is not a service name"
    [ "$(state)" = "$BEFORE" ] || fail "a refused import changed the store"
    # rate limits as `apikey create --rate-limit` takes them (one parser)
    printf 'type,uin,name,rate-limit\napikey,100,r1,100/0s\n' >"$IN/b7.csv"
    expect_exit 2 lk import "$IN/b7.csv"
    err_has_str "line 2: column 'rate-limit': '100/0s': give N/SPAN"
    expect_exit 2 lk apikey create 100 --name r1 --rate-limit 100/0s
    err_has_str "--rate-limit '100/0s': give N/SPAN"
    [ "$(state)" = "$BEFORE" ] || fail "a refused import changed the store"
    printf 'type,uin,name,rate-limit\napikey,100,rmax,1000000000/1s\n' >"$IN/r8.csv"
    expect_exit 0 lk import "$IN/r8.csv"
    expect_exit 0 lk apikey show --account 100 --name rmax
    out_has_str "1000000000/1s"
    expect_exit 0 lk --json apikey show --account 100 --name rmax
    _rmax=$(printf '%s' "$OUT" | sed -n 's/.*"KeyId":"\([^"]*\)".*/\1/p')
    expect_exit 0 lk apikey disable "$_rmax"
    expect_exit 0 lk apikey delete "$_rmax"
    BEFORE=$(state)

    # ---- store checks inside the transaction: the line is named, nothing written
    # a duplicate user (of the store, and within the file)
    printf 'type,uin\nuser,500\nuser,100\n' >"$IN/dup1.csv"
    expect_exit 1 lk import "$IN/dup1.csv"
    expect_error 'InvalidParameter\.UserAlreadyExist'
    err_has_str "line 3: user 100 already exists"
    printf 'type,uin\nuser,501\nuser,502\nuser,501\n' >"$IN/dup2.csv"
    expect_exit 1 lk import "$IN/dup2.csv" --secrets-out "$IN/dup2.secrets"
    err_has_str "line 4: user 501 already exists"
    [ ! -e "$IN/dup2.secrets" ] || fail "a failed import left a secrets file"
    # over the limits: 2 access keys per user (the 3rd), 50 API keys per account
    printf 'type,uin\nuser,600\nkey,600\nkey,600\nkey,600\n' >"$IN/over.csv"
    expect_exit 1 lk import "$IN/over.csv"
    expect_error 'OperationDenied\.AccessKeyOverLimit'
    err_has_str "line 5: user 600 already has 2 access key(s); the limit is 2"
    { echo 'type,uin,name'; echo 'user,700,'; i=1; while [ $i -le 51 ]; do echo "apikey,700,k$i"; i=$((i + 1)); done; } \
        >"$IN/over50.csv"
    expect_exit 1 lk import "$IN/over50.csv"
    expect_error 'OperationDenied\.ApiKeyOverLimit'
    err_has_str "line 53: account 700 already has 50 API key(s); the limit is 50"
    # an API key name used twice in one account
    printf 'type,uin,name\napikey,100,ci\n' >"$IN/name.csv"
    expect_exit 1 lk import "$IN/name.csv"
    err_has_str "line 2: account 100 already has an API key named 'ci'"
    [ "$(state)" = "$BEFORE" ] || fail "a refused import changed the store"
    for u in 500 501 600 700; do
        expect_exit 1 lk user show $u
    done
    note "refusals ok"
}

for_each_backend import_tests
