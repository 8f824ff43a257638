package redisbackend

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkCommandsPerTask counts the Redis commands a task costs the server in
// the cycle of Enqueue, Dequeue and Settle with an answer, one call each for one
// task or for a batch of 100, from INFO commandstats after CONFIG RESETSTAT on a
// server of its own, by a client that resends after network errors (go-redis's
// default) and by one that never does (resends=false: MaxRetries -1, whose calls
// need no request key, request.go). It reports the calls the client sends
// (top/task: FCALL or EVALSHA), every command the server ran, the scripts'
// redis.call()s included (cmds/task), the server's CPU time (server-µs/task,
// from INFO cpu, its idle work included), and with -v the commands by name.
// Counts do not move with machine load. Run
//
//	go test -run '^$' -bench CommandsPerTask -v ./redisbackend/
func BenchmarkCommandsPerTask(b *testing.B) {
	srv := redistest.Start(b, "--save", "", "--appendonly", "no")
	for _, path := range []string{"functions", "evalsha"} {
		for _, track := range []bool{true, false} {
			for _, batch := range []int{1, 100} {
				for _, resends := range []bool{true, false} {
					b.Run(fmt.Sprintf("path=%s/jobs=%v/batch=%d/resends=%v", path, track, batch, resends), func(b *testing.B) {
						commandsPerTask(b, srv.Addr, path, track, batch, resends)
					})
				}
			}
		}
	}
}

// commandsPerTask is one case of BenchmarkCommandsPerTask, on the server at addr.
func commandsPerTask(b *testing.B, addr, path string, track bool, batch int, resends bool) {
	ctx := context.Background()
	opt := &redis.Options{Addr: addr}
	if !resends {
		opt.MaxRetries = -1 // no request keys (request.go)
	}
	client := redis.NewClient(opt)
	defer client.Close()
	rb, err := New(client, Options{Prefix: testPrefix(), NoFunctions: path == "evalsha"})
	if err != nil {
		b.Fatal(err)
	}
	defer rb.Close()
	n, err := rb.Namespace("cost")
	if err != nil {
		b.Fatal(err)
	}
	one := func(i int) {
		p := backend.EnqueueParams{Queue: "q", Tasks: make([]backend.Message, batch)}
		for j := range batch {
			p.Tasks[j] = message(i*batch + j)
		}
		if track {
			p.TrackJobs, p.JobTTL = true, time.Hour
		}
		if _, err := n.Enqueue(ctx, p); err != nil {
			b.Fatal(err)
		}
		res, err := n.Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: batch, Lease: time.Minute})
		if err != nil || len(res.Leases) != batch {
			b.Fatalf("dequeue: %v, %d leases", err, len(res.Leases))
		}
		items := make([]backend.Settlement, batch)
		for j, l := range res.Leases {
			items[j] = backend.Settlement{LeaseRef: ref(l), Action: backend.Ack,
				Answer: &backend.Answer{Value: []byte("ok"), OK: true, TTL: time.Minute}}
		}
		out, err := n.Settle(ctx, backend.SettleParams{Items: items})
		if err != nil {
			b.Fatalf("settle: %v", err)
		}
		for _, r := range out {
			if r != backend.SettleDone {
				b.Fatalf("settle: %v", out)
			}
		}
	}
	one(0) // loads the scripts
	if err := client.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	cpu0 := serverCPU(b, client)
	i := 0
	for b.Loop() {
		i++
		one(i)
	}
	cpu := serverCPU(b, client) - cpu0
	stats := commandStats(b, client)
	var top, all int64
	var names []string
	for name, calls := range stats {
		switch name {
		case "config|resetstat", "info":
			continue
		case "fcall", "fcall_ro", "evalsha", "evalsha_ro", "eval", "eval_ro":
			top += calls
		}
		all += calls
		names = append(names, fmt.Sprintf("%s=%.2f", name, float64(calls)/float64(b.N*batch)))
	}
	sort.Strings(names)
	b.Logf("commands per task: %s", strings.Join(names, " "))
	tasks := float64(b.N * batch)
	b.ReportMetric(float64(top)/tasks, "top/task")
	b.ReportMetric(float64(all)/tasks, "cmds/task")
	b.ReportMetric(cpu.Seconds()*1e6/tasks, "server-µs/task")
}

// commandStats returns the calls per command since the last CONFIG RESETSTAT.
func commandStats(tb testing.TB, c *redis.Client) map[string]int64 {
	tb.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			tb.Fatalf("commandstats line %q: %v", line, err)
		}
		out[name] = n
	}
	return out
}

// serverCPU returns the server's CPU time so far, user and system.
func serverCPU(b *testing.B, c *redis.Client) time.Duration {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(info, "\r\n") {
		for _, f := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, f); ok {
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatalf("INFO cpu line %q: %v", line, err)
				}
				sum += x
			}
		}
	}
	return time.Duration(sum * float64(time.Second))
}
