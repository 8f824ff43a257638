package redisbackend

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestOneStateRead: every script call that changes tasks reads the epoch and
// the namespace's state keys in one MGET (scripts/common/begin.lua, read_due and
// req_check), with a request key or without one (a client that never resends),
// by functions and by EVALSHA. A separate GET of the epoch would be a command
// more per call. It counts the server's commands in INFO commandstats, on a
// server of its own.
func TestOneStateRead(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "no")
	ctx := context.Background()
	for _, path := range []string{"functions", "evalsha"} {
		for _, resends := range []bool{true, false} {
			t.Run(fmt.Sprintf("path=%s/resends=%v", path, resends), func(t *testing.T) {
				opt := &redis.Options{Addr: srv.Addr}
				if !resends {
					opt.MaxRetries = -1
				}
				client := redis.NewClient(opt)
				defer client.Close()
				if path == "functions" && !redistest.HasFunctions(t, client) {
					t.Skip("the function path needs a server with FUNCTION (Redis 7)")
				}
				b, err := New(client, Options{Prefix: testPrefix(), NoFunctions: path == "evalsha"})
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				if b.resends != resends {
					t.Fatalf("the Backend resends: %v, want %v for MaxRetries %d", b.resends, resends, opt.MaxRetries)
				}
				n, err := b.Namespace("state")
				if err != nil {
					t.Fatal(err)
				}
				x, ok := n.(backend.Exchanger)
				if !ok {
					t.Fatal("the namespace is no backend.Exchanger")
				}
				i := 0
				cycle := func() {
					t.Helper()
					i++
					if _, err := n.Enqueue(ctx, backend.EnqueueParams{Queue: "q", TrackJobs: true, JobTTL: time.Hour,
						Tasks: []backend.Message{message(2 * i), message(2*i + 1)}}); err != nil {
						t.Fatalf("enqueue: %v", err)
					}
					dp := backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Minute}
					res, err := n.Dequeue(ctx, dp)
					if err != nil || len(res.Leases) != 1 {
						t.Fatalf("dequeue: %v, %d leases", err, len(res.Leases))
					}
					ack := func(l backend.Lease) backend.SettleParams {
						return backend.SettleParams{Items: []backend.Settlement{{LeaseRef: ref(l), Action: backend.Ack,
							Answer: &backend.Answer{Value: []byte("ok"), OK: true, TTL: time.Minute}}}}
					}
					out, next, err := x.Exchange(ctx, ack(res.Leases[0]), dp)
					if err != nil || len(out) != 1 || out[0] != backend.SettleDone || len(next.Leases) != 1 {
						t.Fatalf("exchange: %v, %v, %d leases", err, out, len(next.Leases))
					}
					if out, err := n.Settle(ctx, ack(next.Leases[0])); err != nil || len(out) != 1 || out[0] != backend.SettleDone {
						t.Fatalf("settle: %v, %v", err, out)
					}
				}
				cycle() // loads the scripts and starts the namespace's state
				if err := client.ConfigResetStat(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				cycle()
				calls := commandStats(t, client)
				scripts := calls["fcall"] + calls["evalsha"]
				if scripts != 4 {
					t.Fatalf("%d script calls for one cycle, want 4 (enqueue, dequeue, exchange, settle): %v", scripts, calls)
				}
				if calls["mget"] != scripts || calls["get"] != 0 {
					t.Errorf("%d MGET and %d GET in %d script calls, want one MGET a call and no GET: %v",
						calls["mget"], calls["get"], scripts, calls)
				}
			})
		}
	}
}
