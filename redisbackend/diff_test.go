package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/memory"
)

// TestDifferential runs seeded random sequences of operations on the memory backend
// (with a fake clock) and on this backend (on miniredis, its clock moved alike), and
// checks that every call gives the same result on both.
func TestDifferential(t *testing.T) {
	ops := diffOps(t)
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			mt := newMini(t)
			runDifferential(t, seed, ops, mt.b, mt.Advance)
		})
	}
}

// TestDifferentialRedis runs the same sequences on a real server, whose clock
// cannot be moved: the clock never advances, durations are ten thousand times
// longer so that nothing expires during the run, and times are not compared.
func TestDifferentialRedis(t *testing.T) {
	client := realClient(t)
	ops := diffOps(t)
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			b, err := New(client, Options{Prefix: testPrefix()})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			runDifferential(t, seed, ops, b, nil)
		})
	}
}

// diffOps is how many operations each seed's run makes: 10,000, or 3,400 in a
// short run or under the race detector, which makes the run about ten times slower;
// the three seeds still make over 10,000 (the full length runs without it).
func diffOps(t *testing.T) int {
	if testing.Short() || raceEnabled {
		t.Log("short or race run: 3,400 operations per seed (10,200 in all) instead of 10,000 each")
		return 3_400
	}
	return 10_000
}

// errKind names the sentinel an error matches, so that errors compare by meaning.
func errKind(err error) string {
	if err == nil {
		return "nil"
	}
	for _, s := range []error{backend.ErrInvalid, backend.ErrNotFound, backend.ErrDuplicate,
		backend.ErrLeaseLost, backend.ErrUnavailable, backend.ErrClosed, backend.ErrTimeout} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "other: " + err.Error()
}

type diffStep struct {
	name string
	call func(b backend.Backend) (any, error)
}

// runDifferential runs n random operations on memory and on red. advance moves
// red's clock; without it the clock stands still and times are not compared.
func runDifferential(t *testing.T, seed uint64, n int, red backend.Backend, advance func(time.Duration)) {
	ctx := context.Background()
	clk := clock.NewFake(baseTime)
	mem := memory.New(memory.WithClock(clk))
	defer mem.Close()
	rng := rand.New(rand.NewPCG(seed, 42))
	const ns = "diff"
	queues := []string{"a", "b", "c{x}"}
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	var leases []backend.Lease // from both, equal so far
	var deadIDs []string
	opts := []cmp.Option{cmpopts.EquateEmpty()}
	scale := time.Duration(1)
	if advance == nil {
		scale = 10_000
		// Times differ, and so does the order of leases by deadline: compare
		// leases as sets.
		opts = append(opts, cmp.Comparer(func(a, b time.Time) bool { return true }),
			cmpopts.SortSlices(func(a, b backend.Lease) bool {
				return len(a.Token) < len(b.Token) || (len(a.Token) == len(b.Token) && a.Token < b.Token)
			}))
	}
	outcomes := make(map[string]int) // op and error kind -> count, for the log

	pickQueue := func() string { return queues[rng.IntN(len(queues))] }
	ms := func(max int) time.Duration { return time.Duration(1+rng.IntN(max)) * time.Millisecond * 100 * scale }
	pickLease := func() (backend.Lease, bool) {
		if len(leases) == 0 {
			return backend.Lease{}, false
		}
		return leases[rng.IntN(len(leases))], true
	}

	for i := range n {
		var step diffStep
		switch r := rng.IntN(100); {
		case r < 22:
			p := backend.EnqueueParams{Namespace: ns, Queue: pickQueue(), AtHead: rng.IntN(3) == 0,
				Unique: rng.IntN(4) == 0, TrackJobs: rng.IntN(2) == 0, JobTTL: ms(50)}
			if rng.IntN(5) == 0 {
				p.Delay = ms(30)
			}
			for range 1 + rng.IntN(3) {
				m := backend.Message{Type: fmt.Sprintf("t%d", rng.IntN(3)), MaxAttempts: 1 + rng.IntN(4)}
				m.Payload = fmt.Appendf(nil, "p%d", rng.IntN(1000))
				if rng.IntN(2) == 0 {
					m.Key = keys[rng.IntN(len(keys))]
				} else {
					m.Key = string(m.Payload)
				}
				if rng.IntN(4) == 0 {
					m.Headers = map[string]string{"h": fmt.Sprint(rng.IntN(9))}
				}
				p.Tasks = append(p.Tasks, m)
			}
			step = diffStep{"Enqueue", func(b backend.Backend) (any, error) { return b.Enqueue(ctx, p) }}
		case r < 44:
			p := backend.DequeueParams{Namespace: ns, Count: 1 + rng.IntN(4), Lease: ms(40)}
			for _, j := range rng.Perm(len(queues))[:1+rng.IntN(len(queues))] {
				p.Queues = append(p.Queues, queues[j])
			}
			step = diffStep{"Dequeue", func(b backend.Backend) (any, error) { return b.Dequeue(ctx, p) }}
		case r < 52:
			if len(leases) == 0 {
				continue
			}
			var ps []backend.AckParams
			for range 1 + rng.IntN(4) {
				l, _ := pickLease()
				p := backend.AckParams{Namespace: ns, TaskID: l.ID, Token: l.Token}
				if rng.IntN(2) == 0 {
					p.Answer = &backend.Answer{Value: fmt.Appendf(nil, "b%d", i), OK: true, TTL: ms(60)}
				}
				ps = append(ps, p)
			}
			step = diffStep{"AckBatch", func(b backend.Backend) (any, error) {
				errs, err := b.(backend.BatchAcker).AckBatch(ctx, ps)
				kinds := make([]string, len(errs))
				for j, e := range errs {
					kinds[j] = errKind(e)
				}
				return kinds, err
			}}
		case r < 56:
			l, ok := pickLease()
			if !ok {
				continue
			}
			p := backend.AckParams{Namespace: ns, TaskID: l.ID, Token: l.Token}
			if rng.IntN(3) > 0 {
				p.Answer = &backend.Answer{Value: fmt.Appendf(nil, "v%d", i), OK: rng.IntN(3) > 0, TTL: ms(60)}
			}
			if rng.IntN(4) == 0 {
				p.Status, p.Error = backend.StatusFailed, "boom"
			}
			step = diffStep{"Ack", func(b backend.Backend) (any, error) { return nil, b.Ack(ctx, p) }}
		case r < 66:
			l, ok := pickLease()
			if !ok {
				continue
			}
			p := backend.ReleaseParams{Namespace: ns, TaskID: l.ID, Token: l.Token, ToTail: rng.IntN(2) == 0,
				KeepAttempt: rng.IntN(5) == 0, DeadLetter: rng.IntN(10) == 0}
			if rng.IntN(4) == 0 {
				p.Delay = ms(30)
			}
			if rng.IntN(2) == 0 {
				p.Error = fmt.Sprintf("e%d", i)
			}
			step = diffStep{"Release", func(b backend.Backend) (any, error) { return nil, b.Release(ctx, p) }}
		case r < 71:
			l, ok := pickLease()
			if !ok {
				continue
			}
			p := backend.ExtendParams{Namespace: ns, TaskID: l.ID, Token: l.Token, Lease: ms(40)}
			step = diffStep{"Extend", func(b backend.Backend) (any, error) { return b.Extend(ctx, p) }}
		case r < 80:
			if advance == nil {
				continue
			}
			d := ms(20)
			clk.Advance(d)
			advance(d)
			continue
		case r < 85:
			p := backend.GetAnswerParams{Namespace: ns, Key: keys[rng.IntN(len(keys))], Refresh: rng.IntN(2) == 0}
			step = diffStep{"GetAnswer", func(b backend.Backend) (any, error) { return b.GetAnswer(ctx, p) }}
		case r < 87:
			p := backend.SetAnswerParams{Namespace: ns, Key: keys[rng.IntN(len(keys))],
				Answer: backend.Answer{Value: []byte("set"), OK: true, TTL: ms(30)}}
			step = diffStep{"SetAnswer", func(b backend.Backend) (any, error) { return nil, b.SetAnswer(ctx, p) }}
		case r < 88:
			p := backend.DeleteAnswerParams{Namespace: ns, Key: keys[rng.IntN(len(keys))]}
			step = diffStep{"DeleteAnswer", func(b backend.Backend) (any, error) { return nil, b.DeleteAnswer(ctx, p) }}
		case r < 91:
			p := backend.StatsParams{Namespace: ns}
			step = diffStep{"Stats", func(b backend.Backend) (any, error) { return b.Stats(ctx, p) }}
		case r < 93:
			p := backend.PeekParams{Namespace: ns, Queue: pickQueue(), Offset: rng.IntN(3), Count: 1 + rng.IntN(5)}
			step = diffStep{"Peek", func(b backend.Backend) (any, error) { return b.Peek(ctx, p) }}
		case r < 94:
			p := backend.LeasesParams{Namespace: ns, Count: 1 + rng.IntN(10)}
			if advance == nil {
				p.Count = 1 << 20 // which leases come first depends on the moving clock
			}
			step = diffStep{"Leases", func(b backend.Backend) (any, error) { return b.Leases(ctx, p) }}
		case r < 95:
			p := backend.DeadParams{Namespace: ns, Offset: rng.IntN(2), Count: 1 + rng.IntN(10)}
			step = diffStep{"Dead", func(b backend.Backend) (any, error) { return b.Dead(ctx, p) }}
		case r < 96:
			p := backend.DeadActionParams{Namespace: ns, All: rng.IntN(3) == 0}
			if !p.All {
				if len(deadIDs) == 0 {
					continue
				}
				p.IDs = []string{deadIDs[rng.IntN(len(deadIDs))], "999999"}
			}
			if rng.IntN(2) == 0 {
				step = diffStep{"RequeueDead", func(b backend.Backend) (any, error) { return b.RequeueDead(ctx, p) }}
			} else {
				step = diffStep{"PurgeDead", func(b backend.Backend) (any, error) { return b.PurgeDead(ctx, p) }}
			}
		case r < 98:
			p := backend.JobParams{Namespace: ns, ID: fmt.Sprint(1 + rng.IntN(i+1))}
			step = diffStep{"Job", func(b backend.Backend) (any, error) { return b.Job(ctx, p) }}
		default:
			p := backend.ReclaimParams{Namespace: ns}
			step = diffStep{"Reclaim", func(b backend.Backend) (any, error) { return b.Reclaim(ctx, p) }}
		}
		wantV, wantErr := step.call(mem)
		gotV, gotErr := step.call(red)
		if errKind(wantErr) != errKind(gotErr) {
			t.Fatalf("op %d %s: error %v, memory says %v", i, step.name, gotErr, wantErr)
		}
		if diff := cmp.Diff(wantV, gotV, opts...); diff != "" {
			t.Fatalf("op %d %s: results differ (-memory +redis):\n%s", i, step.name, diff)
		}
		outcomes[step.name+" "+errKind(wantErr)]++
		switch v := wantV.(type) {
		case backend.DequeueResult:
			leases = append(leases, v.Leases...)
			if len(leases) > 50 {
				leases = leases[len(leases)-50:]
			}
		case []backend.DeadTask:
			for _, d := range v {
				deadIDs = append(deadIDs, d.ID)
			}
			if len(deadIDs) > 20 {
				deadIDs = deadIDs[len(deadIDs)-20:]
			}
		}
	}
	st, err := mem.Stats(ctx, backend.StatsParams{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("outcomes %v; final counters %+v", outcomes, st.Counters)
}
