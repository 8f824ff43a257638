#!/usr/bin/env bash
# compare.sh: the peers command of two commits of keyq, run in interleaved rounds
# against one redis-server, and each line's median: a before/after measure that a
# busy machine slows alike.
#
#   bench/peers/cost/compare.sh BEFORE AFTER REDIS_URL [ROUNDS] [peers flags...]
#   bench/peers/cost/compare.sh v2 group redis://127.0.0.1:6397 3 \
#       --systems keyq,asynq --workloads enqueue,worker,cycle --producers 8
#
# BEFORE and AFTER are git revisions of this repository; AFTER may be "." for the
# work tree as it is (uncommitted changes included). Each is built from a copy of
# its tree (git archive), so nothing here is checked out or changed. Round i runs
# BEFORE then AFTER, each with --rounds 1 --json and the flags given; the JSON of
# every run is kept in a temporary directory, printed at the end, beside a table
# of tasks/s per round, the median, and the median cost per task (commands,
# commands sent, redis-server and client CPU microseconds). The median of an even
# count is the lower middle. Needs git, go and python3 in PATH.
set -euo pipefail

[ $# -ge 3 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
before=$1 after=$2 url=$3
shift 3
rounds=3
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then rounds=$1; shift; fi
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
dir=$(mktemp -d)

build() { # build NAME REV
	mkdir -p "$dir/$1"
	if [ "$2" = . ]; then
		(cd "$repo" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -x -C "$dir/$1"
	else
		git -C "$repo" archive "$2" | tar -x -C "$dir/$1"
	fi
	(cd "$dir/$1/bench/peers" && go build -o "$dir/peers-$1" .)
}
build before "$before"
build after "$after"

for r in $(seq "$rounds"); do
	for v in before after; do
		echo "compare.sh: round $r/$rounds: $v" >&2
		(cd "$dir/$v/bench/peers" && "$dir/peers-$v" --redis "$url" --rounds 1 --json "$@" >"$dir/$v-$r.json")
	done
done

python3 - "$dir" "$before" "$after" <<'PY'
import collections, glob, json, os, sys
d, names = sys.argv[1], {"before": sys.argv[2], "after": sys.argv[3]}
runs = collections.defaultdict(list)
for f in sorted(glob.glob(os.path.join(d, "*-*.json"))):
    v = os.path.basename(f).split("-")[0]
    for line in open(f):
        x = json.loads(line)
        if "backend" in x:
            runs[(x["backend"], x["workload"], x["batch"], x["producers"], v)].append(x)
med = lambda xs: sorted(xs)[(len(xs) - 1) // 2]
print(f"{'backend':>10} {'workload':>8} {'batch':>5} {'prod':>4} {'rev':>8}  {'tasks/s per round':<26} {'median':>8}  cmds  sent  srv us  cli us")
for k in sorted(runs, key=lambda k: (k[0], k[1], k[2], k[3], k[4] != "before")):
    xs = runs[k]
    c = [x.get("cost") or {} for x in xs]
    m = lambda f: med([y.get(f) or 0 for y in c])
    print(f"{k[0]:>10} {k[1]:>8} {k[2]:>5} {k[3]:>4} {names[k[4]][:8]:>8}  {' '.join('%.0f' % x['tasks_per_s'] for x in xs):<26} "
          f"{med([x['tasks_per_s'] for x in xs]):8.0f} {m('commands_per_task'):5.2f} {m('sent_per_task'):5.2f} {m('server_cpu_us_per_task'):7.1f} {m('client_cpu_us_per_task'):7.1f}")
print(f"JSON of every run: {d}")
PY
