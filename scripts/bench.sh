#!/usr/bin/env bash
# Runs the standard benchmark set of the performance issue against our server
# and the Node.js reference (bench/reference, npm socket.io 4.8.4), on this
# machine, interleaved run by run, and prints a table of medians (min–max),
# the ratios ours/reference paired run by run, and the issue's targets.
#
# Every case starts a fresh server on a free loopback port and stops it at
# the end; the trap below also stops any server left behind if the script is
# interrupted. Takes about 10 minutes with the default three runs.
#
# Environment:
#   RUNS=3          runs per server (at least 3 for RESULTS.md)
#   BENCH_OUT=dir   where the per-run JSON results go (default: a temp dir)
#   CASES="idle push1 push10 fanout latency"   a subset, for a quick look;
#                   idle-polling, push1-polling and latency-polling measure
#                   the same over HTTP long-polling (not in the standard set)
#   BENCH_NICE=-10  run everything (both servers and the load generator alike)
#                   at this scheduling priority, so other work on a shared
#                   machine disturbs the measurement less (negative needs root)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
cases=${CASES:-"idle push1 push10 fanout latency"}
out=${BENCH_OUT:-$(mktemp -d -t bench.XXXXXX)}
mkdir -p "$out"
. scripts/lib.sh bench

if [ -n "${BENCH_NICE:-}" ]; then
	renice -n "$BENCH_NICE" -p $$ >/dev/null
fi

echo "== build"
go build -o "$bin/notification-server" .
go build -o "$bin/bench" ./bench
echo "== npm packages of the reference server"
npm ci --prefix bench/reference --no-audit --no-fund --loglevel=error

# Our server gets limits wide enough for the fan-out case (5,000 sessions of
# one user) and logs warnings only; the reference has no such limits and logs
# nothing per session.
ours="env HOST=127.0.0.1 LOG_LEVEL=warn MAX_SESSIONS_PER_USER=10000 MAX_PENDING_PER_USER=10000 $bin/notification-server"
ref="env HOST=127.0.0.1 node bench/reference/server.js"

# The standard set, from the performance issue's targets.
case_args() {
	case "$1" in
	idle) echo "idle -n 0 -k 2" ;;                                    # the most sessions the open-file limit allows
	push1) echo "push -users 1000 -k 1 -duration 10s" ;;              # saturated, one session per user
	push10) echo "push -users 1000 -k 10 -duration 10s" ;;            # saturated, ten sessions per user
	fanout) echo "fanout -n 5000 -duration 10s" ;;                    # one user, 5,000 sessions
	latency) echo "push -users 1000 -k 1 -rate 500 -duration 20s" ;;  # open loop at 500 pushes/s
	# Not in the standard set: the same over HTTP long-polling only.
	idle-polling) echo "idle -transport polling -n 0 -k 2" ;;
	push1-polling) echo "push -transport polling -users 1000 -k 1 -duration 10s" ;;
	latency-polling) echo "push -transport polling -users 1000 -k 1 -rate 500 -duration 20s" ;;
	*) echo "unknown case $1" >&2; return 1 ;;
	esac
}

measure() { # label command run case
	local label=$1 command=$2 run=$3 name=$4
	local args
	args=$(case_args "$name")
	echo "-- run $run/$runs  $name  $label"
	# shellcheck disable=SC2086 # args is a word list on purpose
	"$bin/bench" $args -case "$name" -label "$label" -run "$run" -cmd "$command" \
		-pidfile "$pidfile" -log "$out/$label-server.log" -json "$out/$name-$label-$run.json" \
		>"$out/$name-$label-$run.txt" 2>&1 &
	bench_pid=$!
	if wait "$bench_pid"; then
		grep -E "deliveries/s|RSS per session|latency ms|deliveries:|connect errors [1-9]|CPU|note:" "$out/$name-$label-$run.txt" | sed 's/^/   /' || true
	else
		echo "   FAILED (see $out/$name-$label-$run.txt):"
		tail -3 "$out/$name-$label-$run.txt" | sed 's/^/   /'
	fi
	bench_pid=""
}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), open-file limit $(ulimit -Hn), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== results in $out"
start=$(date +%s)
for run in $(seq 1 "$runs"); do
	for name in $cases; do
		# Alternate which server goes first, so drift on a shared machine
		# does not favour one of them.
		if [ $((run % 2)) -eq 1 ]; then
			measure ours "$ours" "$run" "$name"
			measure ref "$ref" "$run" "$name"
		else
			measure ref "$ref" "$run" "$name"
			measure ours "$ours" "$run" "$name"
		fi
	done
done
echo "== $(( $(date +%s) - start )) s, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
shopt -s nullglob
results=()
for name in $cases; do
	# ours|ref, so that push1's glob does not also take push1-polling's files.
	results+=("$out/$name"-ours-*.json "$out/$name"-ref-*.json)
done
if [ ${#results[@]} -eq 0 ]; then
	echo "no results" >&2
	exit 1
fi
"$bin/bench" table "${results[@]}"
