#!/usr/bin/env bash
# Measures hotline under load on this machine, as the README reports: a server and the load
# tool side by side on loopback. Prints the load tool's JSON lines.
#   scripts/loadtest.sh [CONNS] [RATE] [SECONDS]
# 1. steady state: CONNS connections, RATE questions per second for SECONDS;
# 2. restart: CONNS connections, the server restarted on the same data directory mid-run;
#    reconnect_max_s is how long the slowest connection took to be back.
# 3. crash: the same at 1,000 questions/s, the server killed (SIGKILL) instead; the next one
#    applies its message journal (the log says how much) and unanswered must stay 0.
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-19900}
rate=${2:-3000}
secs=${3:-30}
bin=$(mktemp -d)/hotline
go build -o "$bin" ./cmd/hotline
data=$(mktemp -d)
addr=127.0.0.1:18080
serve() {
  "$bin" serve -addr "$addr" -data "$data" -log-level warn \
    -max-conns-per-ip 0 -ip-msg-rate 0 -msg-rate 100 -msg-burst 100 >>"$data/serve.log" 2>&1 &
  pid=$!
  pids+=("$pid")
}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
wait_up() { for _ in $(seq 100); do curl -fs "http://$addr/readyz" >/dev/null && return; sleep 0.1; done; echo "server did not start" >&2; exit 1; }

serve; wait_up
echo "# steady state: $conns connections, $rate questions/s, ${secs}s" >&2
"$bin" bench -url "ws://$addr/ws" -conns "$conns" -rate "$rate" -duration "${secs}s"
kill "$pid"; wait "$pid" 2>/dev/null || true

# restart SIGNAL RATE: the server stopped with SIGNAL mid-run and started again.
restart() {
  serve; wait_up
  : >"$data/bench.log"
  "$bin" bench -url "ws://$addr/ws" -conns "$conns" -rate "$2" -duration 40s 2>"$data/bench.log" &
  bench=$!
  # Once every connection is open and the questions have started.
  until grep -q 'connections open after' "$data/bench.log"; do sleep 0.5; done
  sleep 10
  kill "-$1" "$pid"; wait "$pid" 2>/dev/null || true
  serve
  wait "$bench"
  grep -v 'connections open$' "$data/bench.log" >&2 || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
echo "# restart: $conns connections, the server restarted mid-run" >&2
restart TERM 200
echo "# crash: $conns connections, the server killed mid-run" >&2
restart KILL 1000
grep 'message journal is applied' "$data/serve.log" >&2 || true
