package conformance

import (
	"errors"
	"reflect"
	"time"

	"github.com/keyq/keyq/backend"
)

func init() {
	register(
		test{name: "S4.2 driver: one Settle acks, releases and dead-letters, each item as asked", fn: testDriverSettleOutcomes, driver: true},
		test{name: "S4.4 driver: Extend moves live leases and reports lost ones as the zero time", fn: testDriverExtend, driver: true},
		test{name: "S4.6 driver: a settlement of an ended or expired lease is lost and changes nothing", fn: testDriverSettleLost, driver: true},
		test{name: "S4.7 driver: a release that reaches MaxAttempts is dead, one that keeps its attempt is not", fn: testDriverDeadAtMax, driver: true},
		test{name: "S5.1 driver: an ack stores its answer in the same call, the last item's answer last", fn: testDriverAckAnswer, driver: true},
		test{name: "S3.2 driver: Exchange settles, then leases, so an ack's answer drops its key's next task", fn: testDriverExchange, driver: true},
		test{name: "S3.2 driver: Exchange leases past more answered tasks than one round drops, as Dequeue does", fn: testDriverExchangeBeyondCap, driver: true},
	)
}

// testDriverSettleOutcomes settles six leases in one call, one of each outcome,
// and checks where each task went and with which attempt count.
func testDriverSettleOutcomes(e *env) {
	h := e.handle()
	ids := e.put(h, backend.EnqueueParams{Queue: "q", TrackJobs: true, JobTTL: e.u(100)}, "acked", "head", "tail", "delayed", "dead", "kept")
	e.put(h, backend.EnqueueParams{Queue: "q"}, "waiting")
	ls := e.takePayloads(h, []string{"q"}, "acked", "head", "tail", "delayed", "dead", "kept")
	e.settleAll(h, results(backend.SettleDone, backend.SettleDone, backend.SettleDone, backend.SettleDone, backend.SettleDone, backend.SettleDone),
		ack(ls[0]),
		release(ls[1]),
		backend.Settlement{LeaseRef: ref(ls[2]), Action: backend.Release, ToTail: true},
		backend.Settlement{LeaseRef: ref(ls[3]), Action: backend.Release, Delay: e.u(10)},
		backend.Settlement{LeaseRef: ref(ls[4]), Action: backend.DeadLetter, Error: "poison"},
		backend.Settlement{LeaseRef: ref(ls[5]), Action: backend.Release, ToTail: true, KeepAttempt: true},
	)
	got := e.takePayloads(h, []string{"q"}, "head", "waiting", "tail", "kept")
	for i, want := range []int{1, 0, 1, 0} {
		if got[i].Attempt != want {
			e.Fatalf("%s delivered again with attempt %d, want %d", got[i].Payload, got[i].Attempt, want)
		}
	}
	e.advance(11)
	if l := e.takePayloads(h, []string{"q"}, "delayed"); l[0].Attempt != 1 {
		e.Fatalf("the delayed release came back with attempt %d, want 1", l[0].Attempt)
	}
	in, ok := h.(backend.Inspector)
	if !ok {
		return
	}
	dead, err := in.Dead(e.ctx, backend.DeadParams{Count: 10})
	if err != nil {
		e.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != ids[4] || dead[0].Reason != "poison" || dead[0].Attempt != 0 {
		e.Fatalf("Dead = %+v; want the dead-lettered task with reason poison and attempt 0", dead)
	}
	for i, want := range []backend.JobStatus{backend.StatusFinished, backend.StatusRunning, backend.StatusRunning, backend.StatusRunning, backend.StatusDead, backend.StatusRunning} {
		if j, err := in.Job(e.ctx, backend.JobParams{ID: ids[i]}); err != nil || j.Status != want {
			e.Fatalf("job of %s: %+v, %v; want %s", ls[i].Payload, j, err, want)
		}
	}
}

// testDriverExtend extends three leases in one call: a live one, one that expired
// and one that was acked. Only the live one moves, to now + the lease, shorter
// than it was; the others stay lost.
func testDriverExtend(e *env) {
	h := e.handle()
	e.put(h, backend.EnqueueParams{Queue: "q"}, "expired", "live", "acked")
	expired := e.take(h, backend.DequeueParams{Lease: e.u(2)}).Leases[0]
	ls := e.take(h, backend.DequeueParams{Count: 2, Lease: e.u(20)}).Leases
	live, acked := ls[0], ls[1]
	e.settleAll(h, results(backend.SettleDone), ack(acked))
	e.advance(3)
	var got []backend.ExtendResult
	lease := e.u(5)
	ext0, ext1 := e.between(func() {
		var err error
		got, err = h.Extend(e.ctx, backend.ExtendParams{Leases: []backend.LeaseRef{ref(live), ref(expired), ref(acked)}, Lease: lease})
		if err != nil {
			e.Fatalf("Extend: %v", err)
		}
	})
	if len(got) != 3 || got[0].Cancelled || !got[1].Deadline.IsZero() || got[1].Cancelled || !got[2].Deadline.IsZero() || got[2].Cancelled {
		e.Fatalf("Extend of a live, an expired and an acked lease = %+v; want a deadline and two zero times, none cancelled", got)
	}
	if lo, hi := ext0.Truncate(time.Millisecond).Add(lease), ext1.Add(lease+time.Millisecond); got[0].Deadline.Before(lo) || got[0].Deadline.After(hi) {
		e.Fatalf("Extend by %v: deadline %v, want in [%v, %v]", lease, got[0].Deadline, lo, hi)
	}
	if in, ok := h.(backend.Inspector); ok {
		leases, err := in.Leases(e.ctx, backend.LeasesParams{Count: 10})
		if err != nil {
			e.Fatal(err)
		}
		if len(leases) != 1 || leases[0].Token != live.Token || !leases[0].Deadline.Equal(got[0].Deadline) {
			e.Fatalf("Leases after the Extend = %+v; want the live lease alone, with deadline %v", leases, got[0].Deadline)
		}
	}
	e.settleAll(h, results(backend.SettleLost), ack(expired))
	e.advance(6)
	e.settleAll(h, results(backend.SettleLost), ack(live))
}

// testDriverSettleLost settles, in one call, a lease that expired, one already
// acked, one named with another delivery's token, and a live one: only the live
// one is done. The late ack's answer is not stored, and the expired task, delivered
// again, is not touched by its old lease.
func testDriverSettleLost(e *env) {
	h := e.handle()
	e.put(h, backend.EnqueueParams{Queue: "q"}, "expired", "acked", "live")
	expired := e.take(h, backend.DequeueParams{Lease: e.u(2)}).Leases[0]
	ls := e.take(h, backend.DequeueParams{Count: 2, Lease: e.u(100)}).Leases
	acked, live := ls[0], ls[1]
	e.settleAll(h, results(backend.SettleDone), ack(acked))
	e.advance(3)
	lateAnswer := &backend.Answer{Value: []byte("late"), OK: true, TTL: e.u(100)}
	e.settleAll(h, results(backend.SettleLost, backend.SettleLost, backend.SettleLost, backend.SettleDone),
		backend.Settlement{LeaseRef: ref(expired), Action: backend.Ack, Answer: lateAnswer},
		backend.Settlement{LeaseRef: ref(acked), Action: backend.Release},
		backend.Settlement{LeaseRef: backend.LeaseRef{TaskID: live.ID, Token: acked.Token}, Action: backend.DeadLetter},
		ack(live),
	)
	if _, err := h.GetAnswer(e.ctx, backend.GetAnswerParams{Key: "expired"}); !errors.Is(err, backend.ErrNotFound) {
		e.Fatalf("GetAnswer after a lost ack with an answer: %v, want ErrNotFound", err)
	}
	again := e.takePayloads(h, []string{"q"}, "expired")[0]
	if again.Attempt != 1 || again.Token == expired.Token {
		e.Fatalf("the expired task came back with attempt %d and token %q (old %q); want attempt 1, a new token", again.Attempt, again.Token, expired.Token)
	}
	before := e.snap(h, "expired")
	e.settleAll(h, results(backend.SettleLost, backend.SettleLost),
		backend.Settlement{LeaseRef: ref(expired), Action: backend.Ack, Answer: lateAnswer},
		backend.Settlement{LeaseRef: ref(expired), Action: backend.DeadLetter})
	if got, err := h.Extend(e.ctx, backend.ExtendParams{Leases: []backend.LeaseRef{ref(expired)}, Lease: e.u(100)}); err != nil || len(got) != 1 || !got[0].Deadline.IsZero() || got[0].Cancelled {
		e.Fatalf("Extend of the old lease = %+v, %v; want the zero time", got, err)
	}
	e.wantUnchanged("settling and extending the old lease of a task delivered again", h, before, "expired")
	e.settleAll(h, results(backend.SettleDone), ack(again))
}

// testDriverDeadAtMax releases a task of MaxAttempts 2 twice: the first release
// puts it back, the second sends it to the dead-letter list with its error as the
// reason and says so. A task of MaxAttempts 1 released with KeepAttempt comes back.
func testDriverDeadAtMax(e *env) {
	h := e.handle()
	m := message("x")
	m.MaxAttempts = 2
	kept := message("kept")
	kept.MaxAttempts = 1
	ids, err := h.Enqueue(e.ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{m, kept}, TrackJobs: true, JobTTL: e.u(100)})
	if err != nil {
		e.Fatal(err)
	}
	ls := e.takePayloads(h, []string{"q"}, "x", "kept")
	e.settleAll(h, results(backend.SettleDone, backend.SettleDone),
		backend.Settlement{LeaseRef: ref(ls[0]), Action: backend.Release, Error: "first"},
		backend.Settlement{LeaseRef: ref(ls[1]), Action: backend.Release, ToTail: true, KeepAttempt: true})
	ls = e.takePayloads(h, []string{"q"}, "x", "kept")
	if ls[0].Attempt != 1 || ls[1].Attempt != 0 {
		e.Fatalf("delivered again with attempts %d and %d, want 1 and 0", ls[0].Attempt, ls[1].Attempt)
	}
	e.settleAll(h, results(backend.SettleDead, backend.SettleDone),
		backend.Settlement{LeaseRef: ref(ls[0]), Action: backend.Release, Error: "second"},
		ack(ls[1]))
	e.takePayloads(h, []string{"q"})
	in, ok := h.(backend.Inspector)
	if !ok {
		return
	}
	dead, err := in.Dead(e.ctx, backend.DeadParams{Count: 10})
	if err != nil {
		e.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != ids[0] || dead[0].Reason != "second" {
		e.Fatalf("Dead = %+v; want x with reason \"second\"", dead)
	}
	if j, err := in.Job(e.ctx, backend.JobParams{ID: ids[0]}); err != nil || j.Status != backend.StatusDead || j.Attempts != 2 || j.LastError != "second" {
		e.Fatalf("job of the dead task: %+v, %v; want dead after 2 attempts, last error \"second\"", j, err)
	}
	st, err := in.Stats(e.ctx, backend.StatsParams{Queues: []string{"q"}})
	if err != nil {
		e.Fatal(err)
	}
	if q := st.Queues["q"]; q != (backend.QueueStats{Dead: 1}) || st.Counters.Dead != 1 {
		e.Fatalf("Stats = %+v; want one dead task in q and nothing else", st)
	}
}

// testDriverAckAnswer acks four leases in one call: two with answers of their own
// outcome and TTL, and two of one key whose answers differ. Each answer is there
// after the call, with the later item's answer for the shared key; the failed
// ack's job record says so.
func testDriverAckAnswer(e *env) {
	h := e.handle()
	ids := e.put(h, backend.EnqueueParams{Queue: "q", TrackJobs: true, JobTTL: e.u(100)}, "ok", "failed", "same", "same")
	ls := e.takePayloads(h, []string{"q"}, "ok", "failed", "same", "same")
	answer := func(v string, ok bool, ttl float64) *backend.Answer {
		return &backend.Answer{Value: []byte(v), OK: ok, TTL: e.u(ttl)}
	}
	e.settleAll(h, results(backend.SettleDone, backend.SettleDone, backend.SettleDone, backend.SettleDone),
		backend.Settlement{LeaseRef: ref(ls[0]), Action: backend.Ack, Answer: answer("yes", true, 100)},
		backend.Settlement{LeaseRef: ref(ls[1]), Action: backend.Ack, Answer: answer("no", false, 50), Status: backend.StatusFailed, Error: "boom"},
		backend.Settlement{LeaseRef: ref(ls[2]), Action: backend.Ack, Answer: answer("first", true, 100)},
		backend.Settlement{LeaseRef: ref(ls[3]), Action: backend.Ack, Answer: answer("second", false, 60)},
	)
	for key, want := range map[string]*backend.Answer{"ok": answer("yes", true, 100), "failed": answer("no", false, 50), "same": answer("second", false, 60)} {
		a, err := h.GetAnswer(e.ctx, backend.GetAnswerParams{Key: key})
		if err != nil || string(a.Value) != string(want.Value) || a.OK != want.OK || a.TTL != backend.RoundUp(want.TTL) {
			e.Fatalf("answer of %q: %q ok=%v TTL %v, %v; want %q ok=%v TTL %v", key, a.Value, a.OK, a.TTL, err, want.Value, want.OK, want.TTL)
		}
	}
	in, ok := h.(backend.Inspector)
	if !ok {
		return
	}
	if j, err := in.Job(e.ctx, backend.JobParams{ID: ids[1]}); err != nil || j.Status != backend.StatusFailed || j.LastError != "boom" || j.Attempts != 1 {
		e.Fatalf("job of the failed ack: %+v, %v; want failed after 1 attempt, last error boom", j, err)
	}
}

// testDriverExchange settles and leases in Exchange calls: the settlements come
// first, so the release is delivered again at once and the ack's answer drops a
// task of its key that was waiting behind it (S3.2); a lost item changes nothing
// and does not stop the dequeue; an exchange on an empty queue only settles.
func testDriverExchange(e *env) {
	h := e.handle()
	x, ok := h.(backend.Exchanger)
	if !ok {
		e.Skip("optional: the driver does not implement backend.Exchanger; a worker settles and fetches in two calls")
	}
	e.put(h, backend.EnqueueParams{Queue: "q"}, "a", "r")
	ls := e.takePayloads(h, []string{"q"}, "a", "r")
	e.put(h, backend.EnqueueParams{Queue: "q"}, "a", "b") // a again, under the key its ack answers
	exchange := func(d backend.DequeueParams, items ...backend.Settlement) ([]backend.SettleResult, backend.DequeueResult) {
		e.Helper()
		d.Queues, d.Lease = []string{"q"}, e.u(100)
		res, got, err := x.Exchange(e.ctx, backend.SettleParams{Items: items}, d)
		if err != nil {
			e.Fatalf("Exchange of %d items, dequeue of %d: %v", len(items), d.Count, err)
		}
		if len(got.Leases) > d.Count {
			e.Fatalf("Exchange returned %d leases for a count of %d", len(got.Leases), d.Count)
		}
		return res, got
	}
	res, got := exchange(backend.DequeueParams{Count: 3},
		backend.Settlement{LeaseRef: ref(ls[0]), Action: backend.Ack, Answer: &backend.Answer{Value: []byte("A"), OK: true, TTL: e.u(100)}},
		release(ls[1]))
	if !reflect.DeepEqual(res, results(backend.SettleDone, backend.SettleDone)) {
		e.Fatalf("Exchange settled %v, want both done", res)
	}
	if p := payloads(got.Leases); !reflect.DeepEqual(p, []string{"r", "b"}) || got.Deduped != 1 || got.Leases[0].Attempt != 1 {
		e.Fatalf("Exchange delivered %q (first attempt %d), %d dropped; want r again with attempt 1, then b, and a dropped",
			p, got.Leases[0].Attempt, got.Deduped)
	}
	if a, err := h.GetAnswer(e.ctx, backend.GetAnswerParams{Key: "a"}); err != nil || string(a.Value) != "A" {
		e.Fatalf("answer of a: %q, %v; want A", a.Value, err)
	}
	e.put(h, backend.EnqueueParams{Queue: "q"}, "c")
	r, b := got.Leases[0], got.Leases[1]
	res, got = exchange(backend.DequeueParams{Count: 1}, ack(ls[0]), ack(r))
	if !reflect.DeepEqual(res, results(backend.SettleLost, backend.SettleDone)) || !reflect.DeepEqual(payloads(got.Leases), []string{"c"}) {
		e.Fatalf("Exchange of a lost ack and a live one: %v, delivered %q; want lost, done, and c", res, payloads(got.Leases))
	}
	res, got = exchange(backend.DequeueParams{Count: 2}, ack(b), ack(got.Leases[0]))
	if !reflect.DeepEqual(res, results(backend.SettleDone, backend.SettleDone)) || len(got.Leases) != 0 || got.Deduped != 0 {
		e.Fatalf("Exchange on an empty queue: %v, %d leases, %d dropped; want both done and nothing", res, len(got.Leases), got.Deduped)
	}
}

// testDriverExchangeBeyondCap puts more answered tasks than one dequeue round
// drops (backend.DedupeCap) ahead of a fresh one: an Exchange drops them all and
// leases the fresh task, as a Dequeue would.
func testDriverExchangeBeyondCap(e *env) {
	h := e.handle()
	x, ok := h.(backend.Exchanger)
	if !ok {
		e.Skip("optional: the driver does not implement backend.Exchanger; a worker settles and fetches in two calls")
	}
	e.put(h, backend.EnqueueParams{Queue: "q"}, "x")
	l := e.takePayloads(h, []string{"q"}, "x")[0]
	const answered = backend.DedupeCap + 500
	p := backend.EnqueueParams{Queue: "q"}
	for range answered {
		p.Tasks = append(p.Tasks, backend.Message{Type: "t", Key: "a", Payload: []byte("a"), MaxAttempts: 25})
	}
	p.Tasks = append(p.Tasks, message("fresh"))
	if _, err := h.Enqueue(e.ctx, p); err != nil {
		e.Fatal(err)
	}
	if err := h.SetAnswer(e.ctx, backend.SetAnswerParams{Key: "a", Answer: backend.Answer{Value: []byte("v"), OK: true, TTL: e.u(100)}}); err != nil {
		e.Fatal(err)
	}
	res, d, err := x.Exchange(e.ctx, backend.SettleParams{Items: []backend.Settlement{ack(l)}},
		backend.DequeueParams{Queues: []string{"q"}, Count: 2, Lease: e.u(100)})
	if err != nil {
		e.Fatalf("Exchange: %v", err)
	}
	if !reflect.DeepEqual(res, results(backend.SettleDone)) || !reflect.DeepEqual(payloads(d.Leases), []string{"fresh"}) || d.Deduped != answered {
		e.Fatalf("Exchange: %v, leased %q, %d dropped; want done, fresh, and %d dropped", res, payloads(d.Leases), d.Deduped, answered)
	}
}
