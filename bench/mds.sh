#!/usr/bin/env bash
# Metadata service throughput: wrk against the `loadtarget` example (one fake pod, 127.0.0.1),
# on a small text endpoint (/pod/uuid, 36 bytes) and a JSON one over 1 KiB
# (/apps/web/image/manifest). Each for DURATION, REPS times; prints the median requests/s and
# the median of the p99 latencies.
#
# Usage: bench/mds.sh [DURATION] [REPS] [THREADS] [CONNECTIONS] [SERVER_THREADS]
#        e.g. bench/mds.sh 10s 3 2 32 4
set -euo pipefail
. "$(dirname "$0")/lib.sh"
duration=${1:-10s}
reps=${2:-3}
wrk_threads=${3:-2}
conns=${4:-32}
server_threads=${5:-4}
here=$(cd "$(dirname "$0")/.." && pwd)
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
(cd "$here" && cargo build --release -q -p jetpack-mds --example loadtarget)

out=$(mktemp /tmp/jpmds.XXXXXX)
state=$(mktemp -d /tmp/jpmds-state.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$out" "$state"; }
trap cleanup EXIT
"$here/target/release/examples/loadtarget" 0 "$server_threads" "$state" >"$out" &
pid=$!
for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.05; done
url=$(head -n1 "$out")
[ -n "$url" ] || { echo "loadtarget did not start" >&2; exit 1; }

# wrk prints latencies as 812.00us, 1.23ms or 1.01s; in milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) print v/1000; else if (v ~ /ms$/) print v+0; else if (v ~ /m$/) print v*60000; else print v*1000}'; }

echo "wrk -t$wrk_threads -c$conns -d$duration, $reps runs per endpoint, $server_threads server threads, $(nproc) cores"
for path in pod/uuid apps/web/image/manifest; do
    target="$url/acMetadata/v1/$path"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$target")" = 200 ] || { echo "$target: not 200" >&2; exit 1; }
    rps=(); p99=()
    for _ in $(seq "$reps"); do
        res=$(wrk -t"$wrk_threads" -c"$conns" -d"$duration" --latency "$target")
        if grep -q 'Non-2xx\|Socket errors' <<<"$res"; then echo "$res" >&2; fi
        rps+=("$(awk '/^Requests\/sec:/ {print $2}' <<<"$res")")
        p99+=("$(awk '$1 == "99%" {print $2}' <<<"$res" | to_ms)")
    done
    printf '%-28s median %9.0f req/s (runs: %s)  p99 median %6.2f ms (runs: %s ms)\n' "/$path" \
        "$(printf '%s\n' "${rps[@]}" | median)" "${rps[*]}" \
        "$(printf '%s\n' "${p99[@]}" | median)" "${p99[*]}"
done
