package redisbackend

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
)

// TestNeverEarly (S4.1, S7.2, S7.4): on a real server, with many short durations that
// are not whole milliseconds, a lease's deadline and a delayed task's due time are
// never before the server's TIME read before the call plus the duration asked.
// The scripts read TIME to the microsecond: rounding it down to the millisecond
// before adding the duration would end leases and delays up to 1 ms early.
func TestNeverEarly(t *testing.T) {
	client := realClient(t)
	b, err := New(client, Options{Prefix: testPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	k := nsOf(b, "ns").k
	const rounds = 300
	for i := range rounds {
		d := time.Millisecond + time.Duration(i*37%1000)*time.Microsecond // 1 to 2 ms
		before, err := client.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nsOf(b, "ns").Enqueue(ctx, backend.EnqueueParams{Queue: "q", Delay: d,
			Tasks: []backend.Message{{Payload: []byte("x"), Key: strconv.Itoa(i), MaxAttempts: 1}}}); err != nil {
			t.Fatal(err)
		}
		zs, err := client.ZRangeWithScores(ctx, k.all[1], -1, -1).Result()
		if err != nil || len(zs) != 1 {
			t.Fatalf("delayed set: %v, %v", zs, err)
		}
		due := time.UnixMilli(int64(zs[0].Score))
		if early := before.Add(d).Sub(due); early > 0 {
			t.Fatalf("round %d: a delay of %v enqueued at server time %v is due at %v, %v early",
				i, d, before.Format("15:04:05.000000"), due.Format("15:04:05.000"), early)
		}
		client.Del(ctx, k.all[1])

		if _, err := nsOf(b, "ns").Enqueue(ctx, backend.EnqueueParams{Queue: "q",
			Tasks: []backend.Message{{Payload: []byte("x"), Key: "l" + strconv.Itoa(i), MaxAttempts: 1}}}); err != nil {
			t.Fatal(err)
		}
		before, err = client.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		res, err := nsOf(b, "ns").Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: d})
		if err != nil || len(res.Leases) != 1 {
			t.Fatalf("Dequeue = %d leases, %v", len(res.Leases), err)
		}
		if early := before.Add(d).Sub(res.Leases[0].Deadline); early > 0 {
			t.Fatalf("round %d: a lease of %v taken at server time %v ends at %v, %v early",
				i, d, before.Format("15:04:05.000000"), res.Leases[0].Deadline.Format("15:04:05.000"), early)
		}
		before, err = client.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		at, err := extend1(ctx, nsOf(b, "ns"), ref(res.Leases[0]), d)
		if err == nil {
			if early := before.Add(d).Sub(at); early > 0 {
				t.Fatalf("round %d: a lease extended by %v at server time %v ends at %v, %v early",
					i, d, before.Format("15:04:05.000000"), at.Format("15:04:05.000"), early)
			}
		}
	}
}
