#!/bin/sh
# quickstart.sh — latchkey's main job in five commands: make a store, add a
# user, give it an access key, check the key, list the user's keys.
#
# Usage: examples/quickstart.sh [DIR]     (default: ./latchkey-demo)
# Runs ./latchkey from the build tree (after ./bootstrap.sh), or $LATCHKEY.
set -eu

DIR=${1:-./latchkey-demo}
LATCHKEY=${LATCHKEY:-$(dirname "$0")/../latchkey}
CONFIG=$DIR/latchkey.yaml

if [ ! -x "$LATCHKEY" ]; then
    echo "quickstart: $LATCHKEY not found; build first (./bootstrap.sh) or set LATCHKEY" >&2
    exit 1
fi

# Show each command before running it.
show() {
    printf '$ %s\n' "$*"
}

lk() {
    show latchkey --config "$CONFIG" "$@"
    "$LATCHKEY" --config "$CONFIG" "$@"
}

mkdir -p "$DIR"

# 1. A config file and an LMDB store beside it (kept from an earlier run).
if [ -f "$CONFIG" ]; then
    echo "# reusing $CONFIG from an earlier run"
else
    lk init
fi

# 2. A root account.
if "$LATCHKEY" --config "$CONFIG" user show 100001 >/dev/null 2>&1; then
    echo "# user 100001 exists already"
else
    lk user add 100001
fi

# A user may hold two pairs (OperationDenied.AccessKeyOverLimit beyond):
# on a re-run, rotate out the oldest one — disable, then delete.
if [ "$("$LATCHKEY" --config "$CONFIG" key list 100001 | grep -c '^AKID')" -ge 2 ]; then
    OLDEST=$("$LATCHKEY" --config "$CONFIG" key list 100001 | grep '^AKID' | sort -k3,4 | head -1 | cut -d' ' -f1)
    lk key disable "$OLDEST"
    lk key delete "$OLDEST"
fi

# 3. An access key. The SecretKey is printed this one time only; here it is
#    kept in a shell variable just long enough to show verification.
show latchkey --config "$CONFIG" key create 100001 --json
CREATED=$("$LATCHKEY" --config "$CONFIG" key create 100001 --json)
SECRET_ID=$(printf '%s\n' "$CREATED" | sed -n 's/.*"AccessKeyId":"\([^"]*\)".*/\1/p')
SECRET_KEY=$(printf '%s\n' "$CREATED" | sed -n 's/.*"SecretAccessKey":"\([^"]*\)".*/\1/p')
CREATED=
echo "SecretId: $SECRET_ID (SecretKey received; not shown again)"

# 4. Check the pair. The SecretKey goes on stdin, never on the command line.
show "printf '%s\\n' \"\$SECRET_KEY\" | latchkey --config $CONFIG verify $SECRET_ID"
printf '%s\n' "$SECRET_KEY" | "$LATCHKEY" --config "$CONFIG" verify "$SECRET_ID"
SECRET_KEY=

# 5. The user's keys: the SecretId, never the SecretKey.
lk key list 100001
