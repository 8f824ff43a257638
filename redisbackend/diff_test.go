package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"math"
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
// longer so that nothing expires during the run, and times (and the time an
// answer has left) are not compared.
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
		backend.ErrLeaseLost, backend.ErrLeased, backend.ErrUnavailable, backend.ErrClosed, backend.ErrTimeout} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "other: " + err.Error()
}

// diffNS is what the differential test calls on each backend's namespace.
type diffNS interface {
	backend.Namespace
	backend.Inspector
	backend.Admin
	backend.Controller
	backend.Exchanger
}

// dequeueNext drops Next from a result with leases: the contract asks for it
// only when there are none, and the drivers may differ there.
func dequeueNext(res backend.DequeueResult, err error) (backend.DequeueResult, error) {
	if len(res.Leases) > 0 {
		res.Next = 0
	}
	return res, err
}

type diffStep struct {
	name string
	call func(b diffNS) (any, error)
}

// runDifferential runs n random operations on memory and on red. advance moves
// red's clock; without it the clock stands still and times are not compared.
func runDifferential(t *testing.T, seed uint64, n int, rb *Backend, advance func(time.Duration)) {
	const ns = "diff"
	var red diffNS = newBareIDs(rb.handle(ns)) // compare IDs and tokens without this backend's epoch
	ctx := context.Background()
	clk := clock.NewFake(baseTime)
	memB := memory.New(memory.WithClock(clk))
	defer memB.Close()
	memNS, err := memB.Namespace(ns)
	if err != nil {
		t.Fatal(err)
	}
	mem, ok := memNS.(diffNS)
	if !ok {
		t.Fatalf("the memory backend's namespace %T is no Inspector, Admin and Controller", memNS)
	}
	rng := rand.New(rand.NewPCG(seed, 42))
	queues := []string{"a", "b", "c{x}"}
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	var leases []backend.Lease // from both, equal so far
	var deadIDs []string
	var taskIDs []string         // recently enqueued, for Cancel
	var cancelled *backend.Lease // the lease whose task a Cancel picked last
	opts := []cmp.Option{cmpopts.EquateEmpty()}
	scale := time.Duration(1)
	if advance == nil {
		scale = 10_000
		// Times differ, and so does the order of leases by deadline: compare
		// leases as sets.
		opts = append(opts, cmp.Comparer(func(a, b time.Time) bool { return true }),
			cmpopts.IgnoreFields(backend.Answer{}, "Left"), // real time passes on the server
			cmpopts.IgnoreFields(backend.DequeueResult{}, "Next"),
			cmpopts.SortSlices(func(a, b backend.Lease) bool {
				return len(a.Token) < len(b.Token) || (len(a.Token) == len(b.Token) && a.Token < b.Token)
			}),
			// Delayed tasks too, by ID: due times that tie on the memory
			// backend's clock, which stands still, differ on the server's.
			cmpopts.SortSlices(func(a, b backend.DelayedTask) bool {
				return len(a.ID) < len(b.ID) || (len(a.ID) == len(b.ID) && a.ID < b.ID)
			}))
	}
	outcomes := make(map[string]int) // op and error kind -> count, for the log

	pickQueue := func() string { return queues[rng.IntN(len(queues))] }
	ms := func(max int) time.Duration { return time.Duration(1+rng.IntN(max)) * time.Millisecond * 100 * scale }
	// ttl is an answer TTL of one of two lengths, often not a whole number of
	// milliseconds: TTLs read back in whole ms, rounded up, on every backend; and
	// batch acks with repeated TTLs share groups in the Redis script.
	ttl := func() time.Duration {
		d := []time.Duration{ms(1) * 30, ms(1) * 60}[rng.IntN(2)]
		if rng.IntN(2) == 0 {
			d += time.Duration(1 + rng.IntN(999_999))
		}
		return d
	}
	// window is a Peek, Leases or Dead count or offset, now and then far beyond
	// what is stored.
	window := func(n int) int {
		switch rng.IntN(20) {
		case 0:
			return math.MaxInt
		case 1:
			return 1 << 40
		}
		return n
	}
	flooded := false
	pickLease := func() (backend.Lease, bool) {
		if len(leases) == 0 {
			return backend.Lease{}, false
		}
		return leases[rng.IntN(len(leases))], true
	}

	for i := range n {
		var step diffStep
		switch r := rng.IntN(106); {
		case r < 22:
			p := backend.EnqueueParams{Queue: pickQueue(), AtHead: rng.IntN(3) == 0,
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
			step = diffStep{"Enqueue", func(b diffNS) (any, error) { return b.Enqueue(ctx, p) }}
		case r < 44:
			p := backend.DequeueParams{Count: 1 + rng.IntN(4), Lease: ms(40)}
			for _, j := range rng.Perm(len(queues))[:1+rng.IntN(len(queues))] {
				p.Queues = append(p.Queues, queues[j])
			}
			step = diffStep{"Dequeue", func(b diffNS) (any, error) { return dequeueNext(b.Dequeue(ctx, p)) }}
		case r < 66:
			if len(leases) == 0 {
				continue
			}
			var items []backend.Settlement
			var keyOf []string
			for j := range 1 + rng.IntN(6) {
				l, _ := pickLease()
				if j > 0 && rng.IntN(2) == 0 {
					// Often a lease of a key settled earlier in the call: the
					// later answer must stay.
					k := keyOf[rng.IntN(j)]
					for _, o := range rng.Perm(len(leases)) {
						if leases[o].Key == k {
							l = leases[o]
							break
						}
					}
				}
				keyOf = append(keyOf, l.Key)
				s := backend.Settlement{LeaseRef: ref(l)}
				switch a := rng.IntN(10); {
				case a < 5:
					s.Action = backend.Ack
					if rng.IntN(4) > 0 {
						s.Answer = &backend.Answer{Value: fmt.Appendf(nil, "b%d.%d", i, j), OK: rng.IntN(3) > 0, TTL: ttl()}
					}
					if rng.IntN(4) == 0 {
						s.Status, s.Error = backend.StatusFailed, "boom"
					}
				case a < 9:
					s.Action = backend.Release
					s.ToTail, s.KeepAttempt = rng.IntN(2) == 0, rng.IntN(5) == 0
					if rng.IntN(4) == 0 {
						s.Delay = ms(30)
					}
					if rng.IntN(2) == 0 {
						s.Error = fmt.Sprintf("e%d", i)
					}
				default:
					s.Action = backend.DeadLetter
					if rng.IntN(2) == 0 {
						s.Error = fmt.Sprintf("d%d", i)
					}
				}
				items = append(items, s)
			}
			p := backend.SettleParams{Items: items}
			// One call in three also leases, as a worker's Exchange does.
			var dp *backend.DequeueParams
			if rng.IntN(3) == 0 {
				dp = &backend.DequeueParams{Count: 1 + rng.IntN(4), Lease: ms(40)}
				for _, j := range rng.Perm(len(queues))[:1+rng.IntN(len(queues))] {
					dp.Queues = append(dp.Queues, queues[j])
				}
			}
			name := "Settle"
			if dp != nil {
				name = "Exchange"
			}
			step = diffStep{name, func(b diffNS) (any, error) {
				var out []any
				var err error
				if dp == nil {
					var res []backend.SettleResult
					res, err = b.Settle(ctx, p)
					out = []any{res}
				} else {
					res, d, xerr := b.Exchange(ctx, p, *dp)
					d, _ = dequeueNext(d, nil)
					out, err = []any{res, d}, xerr
				}
				// Which answer each key holds after the call: the last ack's of
				// that key (acks of one key are applied in the call's order).
				for _, k := range keys {
					a, err := b.GetAnswer(ctx, backend.GetAnswerParams{Key: k})
					out = append(out, fmt.Sprintf("%s=%s/%v/%v/%s", k, a.Value, a.OK, a.TTL, errKind(err)))
				}
				return out, err
			}}
		case r < 71:
			if len(leases) == 0 {
				continue
			}
			p := backend.ExtendParams{Lease: ms(40)}
			for range 1 + rng.IntN(3) {
				l, _ := pickLease()
				p.Leases = append(p.Leases, ref(l))
			}
			if cancelled != nil && rng.IntN(2) == 0 {
				// The lease a Cancel picked last, maybe ended by it.
				p.Leases = append(p.Leases, ref(*cancelled))
			}
			step = diffStep{"Extend", func(b diffNS) (any, error) { return b.Extend(ctx, p) }}
		case r < 80:
			if advance == nil {
				continue
			}
			if !flooded && rng.IntN(100) == 0 {
				// Once a run: more answered tasks than one dequeue round drops
				// (backend.DedupeCap), then more due delayed tasks than one
				// housekeeping round moves, then a dequeue of many.
				flooded = true
				const n = backend.DedupeCap + 100
				q := pickQueue()
				answered := backend.EnqueueParams{Queue: q, Tasks: make([]backend.Message, n)}
				delayed := backend.EnqueueParams{Queue: q, Tasks: make([]backend.Message, n), Delay: ms(1)}
				for j := range n {
					answered.Tasks[j] = backend.Message{Key: "flood", Payload: fmt.Appendf(nil, "f%d", j), MaxAttempts: 1}
					delayed.Tasks[j] = backend.Message{Key: fmt.Sprintf("fd%d", j), Payload: fmt.Appendf(nil, "fd%d", j), MaxAttempts: 1}
				}
				for _, b := range []diffNS{mem, red} {
					// A paused queue would give nothing and leave due tasks for
					// the next call: the flood is about the caps of one call.
					if err := b.Pause(ctx, backend.PauseParams{Queues: []string{q}, Resume: true}); err != nil {
						t.Fatal(err)
					}
					if err := b.SetAnswer(ctx, backend.SetAnswerParams{Key: "flood",
						Answer: backend.Answer{Value: []byte("f"), OK: true, TTL: time.Hour}}); err != nil {
						t.Fatal(err)
					}
					for _, p := range []backend.EnqueueParams{answered, delayed} {
						if _, err := b.Enqueue(ctx, p); err != nil {
							t.Fatal(err)
						}
					}
				}
				clk.Advance(delayed.Delay)
				advance(delayed.Delay)
				p := backend.DequeueParams{Queues: []string{q}, Count: n + 100, Lease: ms(40)}
				step = diffStep{"Dequeue flood", func(b diffNS) (any, error) { return dequeueNext(b.Dequeue(ctx, p)) }}
				break
			}
			d := ms(20)
			clk.Advance(d)
			advance(d)
			continue
		case r < 85:
			p := backend.GetAnswerParams{Key: keys[rng.IntN(len(keys))], Refresh: rng.IntN(2) == 0}
			step = diffStep{"GetAnswer", func(b diffNS) (any, error) { return b.GetAnswer(ctx, p) }}
		case r < 87:
			p := backend.SetAnswerParams{Key: keys[rng.IntN(len(keys))],
				Answer: backend.Answer{Value: []byte("set"), OK: true, TTL: ttl()}}
			step = diffStep{"SetAnswer", func(b diffNS) (any, error) { return nil, b.SetAnswer(ctx, p) }}
		case r < 88:
			p := backend.DeleteAnswerParams{Key: keys[rng.IntN(len(keys))]}
			step = diffStep{"DeleteAnswer", func(b diffNS) (any, error) { return nil, b.DeleteAnswer(ctx, p) }}
		case r < 91:
			p := backend.StatsParams{}
			step = diffStep{"Stats", func(b diffNS) (any, error) { return b.Stats(ctx, p) }}
		case r < 93:
			p := backend.PeekParams{Queue: pickQueue(), Offset: window(rng.IntN(3)), Count: window(1 + rng.IntN(5))}
			step = diffStep{"Peek", func(b diffNS) (any, error) { return b.Peek(ctx, p) }}
		case r < 94:
			p := backend.LeasesParams{Count: window(1 + rng.IntN(10))}
			if advance == nil {
				p.Count = 1 << 20 // which leases come first depends on the moving clock
			}
			step = diffStep{"Leases", func(b diffNS) (any, error) { return b.Leases(ctx, p) }}
		case r < 95:
			p := backend.DeadParams{Offset: window(rng.IntN(2)), Count: window(1 + rng.IntN(10))}
			step = diffStep{"Dead", func(b diffNS) (any, error) { return b.Dead(ctx, p) }}
		case r < 96:
			p := backend.DeadActionParams{All: rng.IntN(3) == 0}
			if !p.All {
				if len(deadIDs) == 0 {
					continue
				}
				p.IDs = []string{deadIDs[rng.IntN(len(deadIDs))], "999999"}
			}
			if rng.IntN(2) == 0 {
				step = diffStep{"RequeueDead", func(b diffNS) (any, error) { return b.RequeueDead(ctx, p) }}
			} else {
				step = diffStep{"PurgeDead", func(b diffNS) (any, error) { return b.PurgeDead(ctx, p) }}
			}
		case r < 98:
			p := backend.JobParams{ID: fmt.Sprint(1 + rng.IntN(i+1))}
			step = diffStep{"Job", func(b diffNS) (any, error) { return b.Job(ctx, p) }}
		case r < 100:
			step = diffStep{"Reclaim", func(b diffNS) (any, error) { return b.Reclaim(ctx) }}
		case r < 102:
			// Pause or resume some queues, now and then one never used.
			p := backend.PauseParams{Resume: rng.IntN(2) == 0}
			for _, j := range rng.Perm(len(queues))[:1+rng.IntN(len(queues))] {
				p.Queues = append(p.Queues, queues[j])
			}
			if rng.IntN(5) == 0 {
				p.Queues = append(p.Queues, "idle")
			}
			step = diffStep{"Pause", func(b diffNS) (any, error) {
				err := b.Pause(ctx, p)
				st, serr := b.Stats(ctx, backend.StatsParams{})
				if serr != nil {
					t.Fatalf("Stats after Pause: %v", serr)
				}
				return st, err
			}}
		case r < 105:
			// Cancel a task enqueued lately, leased lately, or any.
			p := backend.CancelParams{Running: rng.IntN(2) == 0}
			switch {
			case rng.IntN(3) == 0 && len(leases) > 0:
				l, _ := pickLease()
				p.ID, cancelled = l.ID, &l
			case rng.IntN(2) == 0 && len(taskIDs) > 0:
				p.ID = taskIDs[rng.IntN(len(taskIDs))]
			default:
				p.ID = fmt.Sprint(1 + rng.IntN(i+1))
			}
			step = diffStep{"Cancel", func(b diffNS) (any, error) {
				r, err := b.Cancel(ctx, p)
				// What the cancel changed shows in the counters and the job.
				st, serr := b.Stats(ctx, backend.StatsParams{})
				if serr != nil {
					t.Fatalf("Stats after Cancel: %v", serr)
				}
				j, jerr := b.Job(ctx, backend.JobParams{ID: p.ID})
				return []any{r, st, j, errKind(jerr)}, err
			}}
		default:
			p := backend.DelayedParams{Offset: window(rng.IntN(3)), Count: window(1 + rng.IntN(5))}
			if rng.IntN(2) == 0 {
				p.Queue = pickQueue()
			}
			if advance == nil {
				// Which come first depends on the server's moving clock.
				p.Offset, p.Count = 0, 1<<20
			}
			step = diffStep{"Delayed", func(b diffNS) (any, error) { return b.Delayed(ctx, p) }}
		}
		wantV, wantErr := step.call(mem)
		// One call in ten goes to the store twice under the same request keys, as
		// go-redis resends a call whose reply it lost: the second send must return
		// what the first did, and the store must change once.
		resend := rng.IntN(10) == 0
		var sent int
		if resend {
			rb.testRequest = func(k *nsKeys) string {
				sent++
				return fmt.Sprintf("%si:diff%d-%d", k.prefix, i, sent)
			}
		}
		gotV, gotErr := step.call(red)
		if resend {
			sent = 0
			againV, againErr := step.call(red)
			rb.testRequest = nil
			if errKind(againErr) != errKind(gotErr) {
				t.Fatalf("op %d %s sent again: error %v, the first send said %v", i, step.name, againErr, gotErr)
			}
			if diff := cmp.Diff(gotV, againV, opts...); diff != "" {
				t.Fatalf("op %d %s sent again: results differ (-first +again):\n%s", i, step.name, diff)
			}
			outcomes["resent"]++
		}
		if errKind(wantErr) != errKind(gotErr) {
			t.Fatalf("op %d %s: error %v, memory says %v", i, step.name, gotErr, wantErr)
		}
		if diff := cmp.Diff(wantV, gotV, opts...); diff != "" {
			t.Fatalf("op %d %s: results differ (-memory +redis):\n%s", i, step.name, diff)
		}
		outcomes[step.name+" "+errKind(wantErr)]++
		if v, ok := wantV.([]any); ok && len(v) > 1 {
			if d, ok := v[1].(backend.DequeueResult); ok { // an Exchange's
				wantV = d
			}
		}
		switch v := wantV.(type) {
		case backend.DequeueResult:
			leases = append(leases, v.Leases...)
			if len(leases) > 50 {
				leases = leases[len(leases)-50:]
			}
		case []string: // an Enqueue's IDs
			taskIDs = append(taskIDs, v...)
			if len(taskIDs) > 30 {
				taskIDs = taskIDs[len(taskIDs)-30:]
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
	st, err := mem.Stats(ctx, backend.StatsParams{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("outcomes %v; final counters %+v", outcomes, st.Counters)
}
