# bench/wrk_lib.sh — sourced by the HTTP benchmarks (apache.sh, nginx.sh):
# one wrk run's figures, and the Lua script of the mixed load. Needs
# common.sh's wrong_last and die; CONNS and SECS set by the caller.

# wrk_run URL [wrk args]: sets RPS, TOTAL and BAD (non-2xx answers)
wrk_run() {
    local out
    out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" "${@:2}" "$1" 2>&1)
    RPS=$(printf '%s\n' "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')
    TOTAL=$(printf '%s\n' "$out" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')
    BAD=$(printf '%s\n' "$out" | sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p')
    BAD=${BAD:-0}
    [ -n "$RPS" ] && [ -n "$TOTAL" ] || die "wrk failed: $out"
}

# The valid answers' share of the last run's rate.
wrk_valid_rps() { awk -v r="$RPS" -v t="$TOTAL" -v b="$BAD" 'BEGIN { printf "%.0f", t ? r * (t - b) / t : 0 }'; }

max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }

# spread A/B ...: the median of the ratios A/B of pairs measured in the same
# round, and their range ("0.84x (0.80-0.90x)"): on a shared machine one
# round's ratio says little, the best of each side paired across rounds less.
spread() {
    local args=()
    while [ $# -ge 2 ]; do args+=("$(awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b ? a / b : 0 }')"); shift 2; done
    printf '%s\n' "${args[@]}" | sort -n | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2fx (%.2f-%.2fx over %d round%s)", m, v[1], v[NR], NR, NR == 1 ? "" : "s" }'
}

# wrk_mix_lua APIKEY MIXED: a wrk script sending "Authorization: Bearer";
# MIXED 1: of 10 requests 8 valid, 1 with a wrong key (last character
# changed: the checksum refuses it before any hash), 1 garbage; MIXED 0: all
# valid, built the same way (a Lua request function costs wrk more than
# fixed headers, so a clean run to compare with must use one too).
wrk_mix_lua() {
    cat <<LUA
local n = 0
local good = "Bearer $1"
local wrong = "Bearer $(wrong_last "$1")"
local junk = "Bearer lk-garbage-\$\$\$-not-a-key"
request = function()
  n = n + 1
  local m = n % 10
  local h = good
  if $2 ~= 0 and m == 0 then h = wrong elseif $2 ~= 0 and m == 5 then h = junk end
  return wrk.format("GET", nil, { ["Authorization"] = h })
end
LUA
}

# wrk_key_scripts APIKEY: the key reaches wrk through Lua script files of
# mode 0600, never argv: $TMP/key.lua (a fixed "Authorization: Bearer"),
# $TMP/mixed.lua and $TMP/clean.lua (wrk_mix_lua 1 and 0).
wrk_key_scripts() {
    (
        umask 077
        printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$1" >"$TMP/key.lua"
        wrk_mix_lua "$1" 1 >"$TMP/mixed.lua"
        wrk_mix_lua "$1" 0 >"$TMP/clean.lua"
    )
}

# run PATH [wrk args]: wrk_run on the caller's server ($PORT).
run() { wrk_run "http://127.0.0.1:$PORT$1" "${@:2}"; }

# wrk_warm PATH: a second of the key.lua load, unmeasured (opens stores,
# fills the verified-secret caches, opens keep-alive connections).
wrk_warm() { wrk -t2 -c"$CONNS" -d1s -s "$TMP/key.lua" "http://127.0.0.1:$PORT$1" >/dev/null 2>&1; }
