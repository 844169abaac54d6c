#!/usr/bin/env bash
# Bounded soak of our server (opt-in; 2-5 minutes): sessions connect and
# disconnect (half cleanly, half by dropping the TCP connection) while pushes
# flow, then every live session must still receive a push. Reports the
# server's RSS and, from /metrics (and pprof when exposed), sessions, users,
# pending ids, goroutines and heap: before, once connected, after the churn,
# and after every session closed, which should be back near the start.
#
# Environment:
#   SOAK_DURATION=3m   length of the churn (2m to 5m)
#   SOAK_SESSIONS=2000 sessions kept connected (2 per user)
#   SOAK_CHURN=100     sessions replaced per second
#   SOAK_RATE=200      pushes per second
#   SOAK_TRANSPORT=websocket  or polling (HTTP long-polling only)
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${SOAK_DURATION:-3m}
sessions=${SOAK_SESSIONS:-2000}
churn=${SOAK_CHURN:-100}
rate=${SOAK_RATE:-200}
transport=${SOAK_TRANSPORT:-websocket}
. scripts/lib.sh soak

echo "== build"
go build -o "$bin/notification-server" .
go build -o "$bin/bench" ./bench

echo "== soak: $duration, $sessions sessions over $transport, $churn replaced/s, $rate pushes/s"
"$bin/bench" churn -transport "$transport" -cmd "env HOST=127.0.0.1 LOG_LEVEL=warn $bin/notification-server" -pidfile "$pidfile" \
	-log "$bin/server.log" -duration "$duration" -n "$sessions" -k 2 -churn "$churn" -rate "$rate" &
bench_pid=$!
status=0
wait "$bench_pid" || status=$?
bench_pid=""
if [ "$status" -ne 0 ]; then
	echo "soak failed (exit $status); server log tail:"
	tail -20 "$bin/server.log" || true
fi
exit "$status"
