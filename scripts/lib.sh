# Shared by scripts/bench.sh and scripts/soak.sh (sourced, not run): a
# scratch folder for binaries, and a cleanup that always stops the load
# generator and the server it started, whatever ends the script.
#
# After sourcing: $bin is the scratch folder, $pidfile where the load
# generator writes the server's PID (-pidfile), and $bench_pid is for the
# caller to set while a load generator runs in the background.

bin=$(mktemp -d -t "${1:-bench}-bin.XXXXXX")
pidfile="$bin/server.pid"
bench_pid=""

cleanup() {
	if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
		kill "$bench_pid" 2>/dev/null || true
		wait "$bench_pid" 2>/dev/null || true
	fi
	if [ -s "$pidfile" ]; then
		# The load generator started the server in its own process group.
		kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || true
		sleep 1
		kill -KILL -- "-$(cat "$pidfile")" 2>/dev/null || true
	fi
	rm -rf "$bin"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
