package redisbackend

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkScriptCost measures what each script of the cycle costs the server per
// call, as Redis 7 functions and by EVALSHA (the path of Redis 6.2 and KeyDB), on a
// server of its own: rounds of 100 Enqueue calls of one task, then 100 Dequeue
// calls, then 100 Settle calls acking with an answer, job records on. It reports,
// per script, the server's time per call from INFO commandstats (the usec of
// FCALL or EVALSHA, the script's redis.call()s included; enqueue-µs/call and so
// on), and the server's CPU per task from INFO cpu (server-µs/task, its idle work
// and the INFO calls included). Run
//
//	go test -run '^$' -bench ScriptCost -benchtime 3000x ./redisbackend/
func BenchmarkScriptCost(b *testing.B) {
	srv := redistest.Start(b, "--save", "", "--appendonly", "no")
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer client.Close()
	ctx := context.Background()
	for _, path := range []string{"functions", "evalsha"} {
		b.Run("path="+path, func(b *testing.B) {
			rb, err := New(client, Options{Prefix: testPrefix(), NoFunctions: path == "evalsha"})
			if err != nil {
				b.Fatal(err)
			}
			defer rb.Close()
			n, err := rb.Namespace("cost")
			if err != nil {
				b.Fatal(err)
			}
			const round = 100
			var leases []backend.Lease
			phases := []struct {
				name string
				run  func(i int)
			}{
				{"enqueue", func(i int) {
					p := backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{message(i)}, TrackJobs: true, JobTTL: time.Hour}
					if _, err := n.Enqueue(ctx, p); err != nil {
						b.Fatal(err)
					}
				}},
				{"dequeue", func(int) {
					res, err := n.Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Minute})
					if err != nil || len(res.Leases) != 1 {
						b.Fatalf("dequeue: %v, %d leases", err, len(res.Leases))
					}
					leases = append(leases, res.Leases...)
				}},
				{"settle", func(int) {
					l := leases[0]
					leases = leases[1:]
					out, err := n.Settle(ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: ref(l), Action: backend.Ack,
						Answer: &backend.Answer{Value: []byte("ok"), OK: true, TTL: time.Minute}}}})
					if err != nil || len(out) != 1 || out[0] != backend.SettleDone {
						b.Fatalf("settle: %v %v", out, err)
					}
				}},
			}
			for _, p := range phases {
				p.run(0) // loads the scripts
			}
			usec := make([]float64, len(phases))
			calls := make([]int64, len(phases))
			cpu0 := serverCPU(b, client)
			tasks := 1 // task 0 loaded the scripts
			for b.Loop() {
				for pi, p := range phases {
					c0, u0 := scriptCallStats(b, client)
					for i := range round {
						p.run(tasks + i)
					}
					c1, u1 := scriptCallStats(b, client)
					calls[pi] += c1 - c0
					usec[pi] += u1 - u0
				}
				tasks += round
			}
			cpu := serverCPU(b, client) - cpu0
			for pi, p := range phases {
				if calls[pi] > 0 {
					b.ReportMetric(usec[pi]/float64(calls[pi]), p.name+"-µs/call")
				}
			}
			b.ReportMetric(cpu.Seconds()*1e6/float64(tasks-1), "server-µs/task")
		})
	}
}

// scriptCallStats returns the script calls (FCALL, FCALL_RO, EVALSHA, EVALSHA_RO) the
// server ran so far and the µs it spent in them, from INFO commandstats.
func scriptCallStats(b *testing.B, c *redis.Client) (calls int64, usec float64) {
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		switch name {
		case "fcall", "fcall_ro", "evalsha", "evalsha_ro":
		default:
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					b.Fatalf("commandstats line %q: %v", line, err)
				}
				calls += n
			case "usec":
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatalf("commandstats line %q: %v", line, err)
				}
				usec += x
			}
		}
	}
	return calls, usec
}
