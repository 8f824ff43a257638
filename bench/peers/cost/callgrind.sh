#!/usr/bin/env bash
# callgrind.sh: redis-server instructions per task for keyq and its peers, the
# load-independent figure of issue 14 (callgrind counts instructions, not time,
# so a busy machine slows the run but does not change the count).
#
#   bench/peers/cost/callgrind.sh [TASKS] [extra peers flags...]
#   TASKS=3000 SYSTEMS=keyq,asynq,raw,bullmq WORKLOADS=cycle bench/peers/cost/callgrind.sh
#   bench/peers/cost/callgrind.sh 3000 --keyq-jobs=false        # keyq with job records off
#
# It starts redis-server 7 under valgrind --tool=callgrind on a free loopback
# port, runs the peers command (go run . in bench/peers) on it with --callgrind,
# which zeroes the counters (callgrind_control --zero) before each workload and
# dumps them (--dump) after it, subtracts the idle server's instructions over
# the same time (measured for 3s first: server cron and the like), and prints
# them per task in the "server instr" column of the cost table, beside commands
# and CPU per task. BullMQ's lines do the same from node (bench.mjs) when node
# and bench/peers/bullmq/node_modules are there (npm ci --prefix bench/peers/bullmq).
# Needs valgrind (callgrind_control), redis-server and go in PATH; perf stat
# would do as well where the CPU's counters are visible, but not in most VMs.
set -euo pipefail

tasks=${1:-${TASKS:-3000}}
shift || true
systems=${SYSTEMS:-keyq,asynq,raw,bullmq}
workloads=${WORKLOADS:-cycle}
peers=$(cd "$(dirname "$0")/.." && pwd)

for tool in valgrind callgrind_control redis-server redis-cli go; do
	command -v "$tool" >/dev/null || { echo "callgrind.sh: $tool not in PATH" >&2; exit 2; }
done

# A free loopback port: one nobody answers on.
port=
for _ in $(seq 50); do
	p=$((20000 + RANDOM % 20000))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "callgrind.sh: no free port found" >&2; exit 1; }

dir=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT

valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" \
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
	>"$dir/valgrind.log" 2>&1 &
pid=$!
for i in $(seq 600); do
	redis-cli -p "$port" ping >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$dir/valgrind.log" >&2; exit 1; }
	[ "$i" = 600 ] && { echo "callgrind.sh: redis-server under callgrind did not answer PING in 60s" >&2; exit 1; }
	sleep 0.1 # poll the starting server
done

echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') under callgrind, pid $pid, port $port; $tasks tasks, systems $systems, workloads $workloads" >&2
cd "$peers"
go run . --redis "redis://127.0.0.1:$port" --tasks "$tasks" --systems "$systems" --workloads "$workloads" \
	--callgrind "$pid:$dir/callgrind.out" "$@"
