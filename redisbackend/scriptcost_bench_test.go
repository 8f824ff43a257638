package redisbackend

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkScriptCost measures what each script of the cycle costs the server per
// call, as Redis 7 functions and by EVALSHA (the path of Redis 6.2 and KeyDB):
// rounds of 100 Enqueue calls of one task, then 100 Dequeue calls, then 100
// Settle calls acking with an answer, job records on (cycle=three); or, as a
// worker at its defaults runs, 100 Enqueue calls, then 100 Exchange calls, each
// acking the lease the one before took and leasing a task (cycle=exchange). Each
// b.N is one round. It
// reports, per script, the server's time per call from INFO commandstats (the
// usec of FCALL or EVALSHA, the script's redis.call()s included: enqueue-µs/call
// and so on) and the server's CPU per task from INFO cpu (server-µs/task, its
// idle work and the INFO calls included). Run
//
//	go test -run '^$' -bench ScriptCost -benchtime 30x ./redisbackend/
//
// It measures a server of its own, or the one KEYQ_REDIS_URL names. Times move
// with the machine's load; instructions do not. For those, run redis-server under
// callgrind and name it in KEYQ_CALLGRIND as PID:OUTFILE: each script's
// instructions per call are then reported too (enqueue-instr/call and so on; each
// phase's dump, less the idle server's instructions over the same time), and a
// whole task's (server-instr/task):
//
//	valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out redis-server --port 6401 --save '' --appendonly no &
//	KEYQ_REDIS_URL=redis://127.0.0.1:6401 KEYQ_CALLGRIND=$!:/tmp/cg.out \
//		go test -run '^$' -bench ScriptCost -benchtime 10x ./redisbackend/
func BenchmarkScriptCost(b *testing.B) {
	url := os.Getenv(redistest.EnvURL)
	if url == "" {
		url = "redis://" + redistest.Start(b, "--save", "", "--appendonly", "no").Addr
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	client := redis.NewClient(opt)
	defer client.Close()
	cg := newCallgrind(b, os.Getenv("KEYQ_CALLGRIND"))
	ctx := context.Background()
	for _, run := range []struct{ path, cycle string }{
		{"functions", "three"}, {"evalsha", "three"}, {"functions", "exchange"}, {"evalsha", "exchange"},
	} {
		path := run.path
		b.Run("path="+path+"/cycle="+run.cycle, func(b *testing.B) {
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
			lease := backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Minute}
			dequeue := func() {
				res, err := n.Dequeue(ctx, lease)
				if err != nil || len(res.Leases) != 1 {
					b.Fatalf("dequeue: %v, %d leases", err, len(res.Leases))
				}
				leases = append(leases, res.Leases...)
			}
			// ackFirst takes the oldest lease and returns its ack with an answer.
			ackFirst := func() backend.SettleParams {
				l := leases[0]
				leases = leases[1:]
				return backend.SettleParams{Items: []backend.Settlement{{LeaseRef: ref(l), Action: backend.Ack,
					Answer: &backend.Answer{Value: []byte("ok"), OK: true, TTL: time.Minute}}}}
			}
			type phase struct {
				name string
				run  func(i int)
			}
			phases := []phase{
				{"enqueue", func(i int) {
					p := backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{message(i)}, TrackJobs: true, JobTTL: time.Hour}
					if _, err := n.Enqueue(ctx, p); err != nil {
						b.Fatal(err)
					}
				}},
				{"dequeue", func(int) { dequeue() }},
				{"settle", func(int) {
					out, err := n.Settle(ctx, ackFirst())
					if err != nil || len(out) != 1 || out[0] != backend.SettleDone {
						b.Fatalf("settle: %v %v", out, err)
					}
				}},
			}
			if run.cycle == "exchange" {
				// As a worker at its defaults runs: each call acks the lease
				// before and leases the next task.
				phases = append(phases[:1], phase{"exchange", func(int) {
					out, res, err := n.(backend.Exchanger).Exchange(ctx, ackFirst(), lease)
					if err != nil || len(out) != 1 || out[0] != backend.SettleDone || len(res.Leases) != 1 {
						b.Fatalf("exchange: %v, %d leases, %v", out, len(res.Leases), err)
					}
					leases = append(leases, res.Leases...)
				}})
				phases[0].run(-1) // a key of its own: the loading run's ack answers task 0's
				dequeue()
			}
			for _, p := range phases {
				p.run(0) // loads the scripts
			}
			usec := make([]float64, len(phases))
			instr := make([]float64, len(phases))
			calls := make([]int64, len(phases))
			cpu0 := serverCPU(b, client)
			tasks := 0
			for b.Loop() {
				for pi, p := range phases {
					c0, u0 := scriptCallStats(b, client)
					cg.zero(b)
					start := time.Now()
					for i := range round {
						p.run(1 + tasks + i) // task 0 loaded the scripts
					}
					instr[pi] += cg.dump(b, time.Since(start))
					c1, u1 := scriptCallStats(b, client)
					calls[pi] += c1 - c0
					usec[pi] += u1 - u0
				}
				tasks += round
			}
			cpu := serverCPU(b, client) - cpu0
			var all float64
			for pi, p := range phases {
				if calls[pi] > 0 {
					b.ReportMetric(usec[pi]/float64(calls[pi]), p.name+"-µs/call")
					if cg != nil {
						b.ReportMetric(instr[pi]/float64(calls[pi]), p.name+"-instr/call")
					}
				}
				all += instr[pi]
			}
			b.ReportMetric(cpu.Seconds()*1e6/float64(tasks), "server-µs/task")
			if cg != nil {
				b.ReportMetric(all/float64(tasks), "server-instr/task")
			}
		})
	}
}

// scriptCallStats returns the script calls (FCALL, FCALL_RO, EVALSHA,
// EVALSHA_RO) the server ran so far and the µs it spent in them, from INFO
// commandstats.
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

// callgrind drives the callgrind a measured redis-server runs under: it zeroes
// the counters before a phase and dumps them after it. A nil *callgrind does
// nothing.
type callgrind struct {
	pid     string
	outFile string  // --callgrind-out-file: dumps are <outFile>.<n>
	idle    float64 // instructions per second of the idle server
}

// newCallgrind reads KEYQ_CALLGRIND, PID:OUTFILE, and measures the idle server
// for a second; it returns nil for "".
func newCallgrind(b *testing.B, spec string) *callgrind {
	if spec == "" {
		return nil
	}
	pid, out, ok := strings.Cut(spec, ":")
	if _, err := strconv.Atoi(pid); !ok || err != nil || out == "" {
		b.Fatalf("KEYQ_CALLGRIND %q: want PID:OUTFILE, the server's process and its --callgrind-out-file", spec)
	}
	cg := &callgrind{pid: pid, outFile: out}
	cg.zero(b)
	start := time.Now()
	time.Sleep(time.Second) // the idle period measured
	cg.idle = cg.dump(b, 0) / time.Since(start).Seconds()
	return cg
}

func (cg *callgrind) zero(b *testing.B) {
	if cg != nil {
		cg.control(b, "--zero")
	}
}

// dump returns the instructions since the last zero, less the idle server's
// over window.
func (cg *callgrind) dump(b *testing.B, window time.Duration) float64 {
	if cg == nil {
		return 0
	}
	cg.control(b, "--dump")
	files, err := filepath.Glob(cg.outFile + ".*")
	if err != nil {
		b.Fatal(err)
	}
	last, lastN := "", -1
	for _, f := range files {
		if n, err := strconv.Atoi(strings.TrimPrefix(f, cg.outFile+".")); err == nil && n > lastN {
			last, lastN = f, n
		}
	}
	if last == "" {
		b.Fatalf("no callgrind dump %s.<n>", cg.outFile)
	}
	f, err := os.Open(last)
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(last)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "summary:"); ok {
			ir, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				b.Fatalf("callgrind dump %s: summary %q", last, v)
			}
			return max(0, ir-cg.idle*window.Seconds())
		}
	}
	b.Fatalf("callgrind dump %s has no summary line", last)
	return 0
}

func (cg *callgrind) control(b *testing.B, arg string) {
	out, err := exec.Command("callgrind_control", arg, cg.pid).CombinedOutput()
	if err != nil {
		b.Fatalf("callgrind_control %s %s: %v: %s", arg, cg.pid, err, out)
	}
}
