package redisbackend

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// drivers runs f on a Backend of miniredis, of a real server with functions,
// and of a real server by EVALSHA.
func drivers(t *testing.T, f func(t *testing.T, b *Backend)) {
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) *redis.Client
		opts   Options
	}{
		{"miniredis", func(t *testing.T) *redis.Client { return newMini(t).client }, Options{}},
		{"redis", func(t *testing.T) *redis.Client { return realClient(t) }, Options{}},
		{"redis-evalsha", func(t *testing.T) *redis.Client { return realClient(t) }, Options{NoFunctions: true}},
	} {
		t.Run("driver="+tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Prefix = testPrefix()
			b, err := New(tc.client(t), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			f(t, b)
		})
	}
}

// TestSettleMixed: one Settle call acks (with and without an answer, status and
// error), releases (to the head, to the tail, delayed, keeping the attempt, and
// at the last attempt, which dead-letters), dead-letters, and finds leases
// lost (unknown, given twice, malformed), each item as it asks.
func TestSettleMixed(t *testing.T) {
	drivers(t, func(t *testing.T, b *Backend) {
		ctx := context.Background()
		n := nsOf(b, "settle")
		tasks := []backend.Message{msg("ack-answer", 3), msg("ack", 3), msg("head", 3), msg("tail", 3),
			msg("delay", 3), msg("keep", 1), msg("last", 1), msg("dead", 3), msg("waiting", 3)}
		mustEnqueue(t, n, backend.EnqueueParams{Queue: "q", Tasks: tasks, TrackJobs: true, JobTTL: time.Hour})
		ls := mustDequeue(t, n, 8, "q")
		if len(ls) != 8 {
			t.Fatalf("Dequeue: %d leases, want 8", len(ls))
		}
		lease := map[string]backend.Lease{}
		for _, l := range ls {
			lease[l.Key] = l
		}
		answer := &backend.Answer{Value: []byte("42"), OK: true, TTL: time.Hour}
		items := []backend.Settlement{
			{LeaseRef: ref(lease["ack-answer"]), Action: backend.Ack, Answer: answer, Status: backend.StatusFailed, Error: "boom"},
			{LeaseRef: ref(lease["head"]), Action: backend.Release},
			{LeaseRef: ref(lease["ack"]), Action: backend.Ack},
			{LeaseRef: ref(lease["tail"]), Action: backend.Release, ToTail: true, Error: "again"},
			{LeaseRef: ref(lease["delay"]), Action: backend.Release, Delay: time.Hour},
			{LeaseRef: ref(lease["keep"]), Action: backend.Release, KeepAttempt: true},
			{LeaseRef: ref(lease["last"]), Action: backend.Release, Error: "last straw"},
			{LeaseRef: ref(lease["dead"]), Action: backend.DeadLetter, Error: "poison"},
			{LeaseRef: ref(lease["ack"]), Action: backend.Ack}, // given twice
			{LeaseRef: backend.LeaseRef{TaskID: lease["ack"].ID, Token: lease["ack"].Token + "0"}, Action: backend.Ack},
			{LeaseRef: backend.LeaseRef{TaskID: "nonsense", Token: "-"}, Action: backend.Release},
		}
		got, err := n.Settle(ctx, backend.SettleParams{Items: items})
		if err != nil {
			t.Fatal(err)
		}
		D, L, X := backend.SettleDone, backend.SettleLost, backend.SettleDead
		if want := []backend.SettleResult{D, D, D, D, D, D, X, D, L, L, L}; !slices.Equal(got, want) {
			t.Fatalf("Settle = %v, want %v", got, want)
		}

		// The queue: keep and head at the head (the later release first), the
		// task never leased, then tail; delay waits an hour.
		peek, err := n.Peek(ctx, backend.PeekParams{Queue: "q", Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, p := range peek {
			order = append(order, p.Key+":"+string(rune('0'+p.Attempt)))
		}
		if want := []string{"keep:0", "head:1", "waiting:0", "tail:1"}; !slices.Equal(order, want) {
			t.Errorf("queue %v, want %v", order, want)
		}
		dead, err := n.Dead(ctx, backend.DeadParams{Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		var reasons []string
		for _, d := range dead {
			reasons = append(reasons, d.Key+":"+d.Reason)
		}
		if want := []string{"last:last straw", "dead:poison"}; !slices.Equal(reasons, want) {
			t.Errorf("dead %v, want %v", reasons, want)
		}
		if a, err := n.GetAnswer(ctx, backend.GetAnswerParams{Key: "ack-answer"}); err != nil || string(a.Value) != "42" || !a.OK {
			t.Errorf("answer of ack-answer: %+v, %v", a, err)
		}
		if _, err := n.GetAnswer(ctx, backend.GetAnswerParams{Key: "ack"}); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("answer of ack: %v, want ErrNotFound", err)
		}
		for key, want := range map[string]backend.JobStatus{"ack-answer": backend.StatusFailed, "ack": backend.StatusFinished,
			"head": backend.StatusPending, "last": backend.StatusDead, "dead": backend.StatusDead} {
			j, err := n.Job(ctx, backend.JobParams{ID: lease[key].ID})
			if err != nil || j.Status != want {
				t.Errorf("job of %s: %+v, %v; want %s", key, j, err, want)
			}
		}
		if j, _ := n.Job(ctx, backend.JobParams{ID: lease["ack-answer"].ID}); j.LastError != "boom" {
			t.Errorf("job of ack-answer: last error %q, want boom", j.LastError)
		}
		st, err := n.Stats(ctx, backend.StatsParams{Queues: []string{"q"}})
		if err != nil {
			t.Fatal(err)
		}
		wantC := backend.Counters{Enqueued: 9, Delivered: 8, Acked: 2, Released: 6, Dead: 2}
		wantQ := backend.QueueStats{Waiting: 4, Delayed: 1, Dead: 2}
		if st.Counters != wantC || st.Queues["q"] != wantQ {
			t.Errorf("stats %+v %+v, want %+v %+v", st.Counters, st.Queues["q"], wantC, wantQ)
		}
		// Settled leases are lost to a second call.
		again, err := n.Settle(ctx, backend.SettleParams{Items: items[:2]})
		if err != nil || !slices.Equal(again, []backend.SettleResult{L, L}) {
			t.Errorf("Settle again = %v, %v; want [lost lost]", again, err)
		}
	})
}

// TestExtendBatch: one Extend call moves every live lease to now + the lease and
// reports the zero time for the lost ones, which it leaves alone.
func TestExtendBatch(t *testing.T) {
	drivers(t, func(t *testing.T, b *Backend) {
		ctx := context.Background()
		n := nsOf(b, "extend")
		mustEnqueue(t, n, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{msg("a", 3), msg("b", 3), msg("c", 3)}})
		ls := mustDequeue(t, n, 3, "q")
		if len(ls) != 3 {
			t.Fatalf("Dequeue: %d leases", len(ls))
		}
		if err := ack1(ctx, n, ls[1]); err != nil {
			t.Fatal(err)
		}
		refs := []backend.LeaseRef{ref(ls[0]), ref(ls[1]), {TaskID: "x", Token: "y"}, ref(ls[2])}
		got, err := n.Extend(ctx, backend.ExtendParams{Leases: refs, Lease: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 || got[0].Deadline.IsZero() || !got[1].Deadline.IsZero() || !got[2].Deadline.IsZero() || !got[0].Deadline.Equal(got[3].Deadline) {
			t.Fatalf("Extend = %v; want one deadline for leases 0 and 3, zero for 1 and 2", got)
		}
		if d := got[0].Deadline.Sub(ls[0].Deadline); d < time.Hour-time.Minute-time.Second {
			t.Errorf("the deadline moved by %v, want about an hour minus the minute it had", d)
		}
		live, err := n.Leases(ctx, backend.LeasesParams{Count: 10})
		if err != nil || len(live) != 2 {
			t.Fatalf("Leases = %v, %v; want 2", live, err)
		}
		for _, l := range live {
			if !l.Deadline.Equal(got[0].Deadline) {
				t.Errorf("lease %s: deadline %v, want %v", l.Token, l.Deadline, got[0].Deadline)
			}
		}
	})
}

// TestMalformedReply: a script reply of the wrong shape or type is an error
// (errCorrupt), never a zero value taken for a result.
func TestMalformedReply(t *testing.T) {
	mt := newMini(t)
	n := nsOf(mt.b, "ns")
	ctx := context.Background()
	lr := backend.LeaseRef{TaskID: "aaaaaaaa-1", Token: "aaaaaaaa-2"}
	settle := func() error {
		_, err := n.Settle(ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: lr, Action: backend.Ack}}})
		return err
	}
	extend := func() error {
		_, err := n.Extend(ctx, backend.ExtendParams{Leases: []backend.LeaseRef{lr}, Lease: time.Second})
		return err
	}
	for _, tc := range []struct {
		name  string
		s     **script
		reply string
		call  func() error
	}{
		{"settle result 5", &scriptSettle, "return {5}", settle},
		{"settle result string", &scriptSettle, "return {'1'}", settle},
		{"settle too many", &scriptSettle, "return {1, 1}", settle},
		{"settle not a list", &scriptSettle, "return 1", settle},
		{"extend deadline string", &scriptExtend, "return {1, 'soon'}", extend},
		{"extend too short", &scriptExtend, "return {1}", extend},
		{"dequeue deduped", &scriptDequeue, "return {1, 2, 'x', -1, 0, 0, ''}", func() error {
			_, err := n.Dequeue(ctx, dq())
			return err
		}},
		{"dequeue next", &scriptDequeue, "return {1, 2, 0, false, 0, 0, ''}", func() error {
			_, err := n.Dequeue(ctx, dq())
			return err
		}},
		{"reclaim", &scriptReclaim, "return {1, 'many', 0}", func() error { _, err := n.Reclaim(ctx); return err }},
		{"delete answer", &scriptDelAnswer, "return {1, 'yes'}", func() error {
			return n.DeleteAnswer(ctx, backend.DeleteAnswerParams{Key: "k"})
		}},
		{"dead action", &scriptDeadAction, "return {1, false}", func() error {
			_, err := n.PurgeDead(ctx, backend.DeadActionParams{All: true})
			return err
		}},
		{"stats counter", &scriptStats, "return {1, {1, 2, 'x', 4, 5, 6, 7}}", func() error {
			_, err := n.Stats(ctx, backend.StatsParams{})
			return err
		}},
		{"stats queue", &scriptStats, "return {1, {1, 2, 3, 4, 5, 6, 7}, 'q', 1, 'x', 0, 0}", func() error {
			_, err := n.Stats(ctx, backend.StatsParams{})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := *tc.s
			*tc.s = &script{eval: redis.NewScript(tc.reply)}
			defer func() { *tc.s = saved }()
			if err := tc.call(); !errors.Is(err, errCorrupt) {
				t.Fatalf("reply %s: %v, want a corrupt-record error", tc.reply, err)
			}
		})
	}
}

// TestBadInput: every method refuses bad input with ErrInvalid before it sends
// anything to the server.
func TestBadInput(t *testing.T) {
	mt := newMini(t)
	n := nsOf(mt.b, "ns")
	ctx := context.Background()
	var nilCtx context.Context
	lr := backend.LeaseRef{TaskID: "aaaaaaaa-1", Token: "aaaaaaaa-2"}
	ans := backend.Answer{Value: []byte("v"), TTL: time.Hour}
	settle := func(s ...backend.Settlement) func() error {
		return func() error { _, err := n.Settle(ctx, backend.SettleParams{Items: s}); return err }
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Namespace empty", func() error { _, err := mt.b.Namespace(""); return err }},
		{"Enqueue nil ctx", func() error {
			_, err := n.Enqueue(nilCtx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{msg("x", 1)}})
			return err
		}},
		{"Enqueue no tasks", func() error { _, err := n.Enqueue(ctx, backend.EnqueueParams{Queue: "q"}); return err }},
		{"Enqueue max attempts 0", func() error {
			_, err := n.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{msg("x", 0)}})
			return err
		}},
		{"Dequeue count 0", func() error {
			_, err := n.Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Lease: time.Second})
			return err
		}},
		{"Dequeue nil ctx", func() error { _, err := n.Dequeue(nilCtx, dq()); return err }},
		{"Settle none", settle()},
		{"Settle no action", settle(backend.Settlement{LeaseRef: lr})},
		{"Settle ack with delay", settle(backend.Settlement{LeaseRef: lr, Action: backend.Ack, Delay: time.Second})},
		{"Settle negative delay", settle(backend.Settlement{LeaseRef: lr, Action: backend.Release, Delay: -1})},
		{"Settle no token", settle(backend.Settlement{LeaseRef: backend.LeaseRef{TaskID: "1"}, Action: backend.Ack})},
		{"Extend no lease", func() error {
			_, err := n.Extend(ctx, backend.ExtendParams{Leases: []backend.LeaseRef{lr}})
			return err
		}},
		{"Extend none", func() error { _, err := n.Extend(ctx, backend.ExtendParams{Lease: time.Second}); return err }},
		{"SetAnswer no TTL", func() error { return n.SetAnswer(ctx, backend.SetAnswerParams{Key: "k"}) }},
		{"GetAnswer nil ctx", func() error { _, err := n.GetAnswer(nilCtx, backend.GetAnswerParams{Key: "k"}); return err }},
		{"DeleteAnswer nil ctx", func() error { return n.DeleteAnswer(nilCtx, backend.DeleteAnswerParams{Key: "k"}) }},
		{"Stats empty queue", func() error { _, err := n.Stats(ctx, backend.StatsParams{Queues: []string{""}}); return err }},
		{"Job no ID", func() error { _, err := n.Job(ctx, backend.JobParams{}); return err }},
		{"Peek negative offset", func() error { _, err := n.Peek(ctx, backend.PeekParams{Queue: "q", Offset: -1, Count: 1}); return err }},
		{"Leases count 0", func() error { _, err := n.Leases(ctx, backend.LeasesParams{}); return err }},
		{"Dead count 0", func() error { _, err := n.Dead(ctx, backend.DeadParams{}); return err }},
		{"Reclaim nil ctx", func() error { _, err := n.Reclaim(nilCtx); return err }},
		{"RequeueDead nothing", func() error { _, err := n.RequeueDead(ctx, backend.DeadActionParams{}); return err }},
		{"PurgeDead nothing", func() error { _, err := n.PurgeDead(ctx, backend.DeadActionParams{}); return err }},
		{"Allow burst 0", func() error {
			_, err := n.Allow(ctx, backend.AllowParams{Name: "r", Interval: time.Second})
			return err
		}},
		{"Notify nil function", func() error { _, err := n.Notify(ctx, nil); return err }},
		{"Namespaces nil ctx", func() error { _, err := mt.b.Namespaces(nilCtx); return err }},
		{"DropNamespace empty", func() error { _, err := mt.b.DropNamespace(ctx, ""); return err }},
		{"SetAnswer with answer over MaxDuration", func() error {
			a := ans
			a.TTL = backend.MaxDuration + 1
			return n.SetAnswer(ctx, backend.SetAnswerParams{Key: "k", Answer: a})
		}},
	} {
		before := mt.mr.CommandCount()
		if err := tc.call(); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
		}
		if after := mt.mr.CommandCount(); after != before {
			t.Errorf("%s: %d commands reached the server", tc.name, after-before)
		}
	}
}
