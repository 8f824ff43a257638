package conformance

import (
	"sync"
	"time"

	"github.com/keyq/keyq/backend"
)

func init() {
	register(
		test{name: "S3.4 driver: a Notifier signals tasks enqueued and released, until stopped", fn: testDriverNotify, driver: true},
	)
}

// wakes records the Wakes a Notifier sends to one func.
type wakes struct {
	mu      sync.Mutex
	got     []backend.Wake
	stopped bool           // set once stop has returned
	late    []backend.Wake // received after that
	signal  chan struct{}
}

func newWakes() *wakes { return &wakes{signal: make(chan struct{}, 1)} }

// f is the func given to Notify: it records w and does not block.
func (w *wakes) f(wk backend.Wake) {
	w.mu.Lock()
	w.got = append(w.got, wk)
	if w.stopped {
		w.late = append(w.late, wk)
	}
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// take returns the Wakes received since the last take.
func (w *wakes) take() []backend.Wake {
	w.mu.Lock()
	defer w.mu.Unlock()
	got := w.got
	w.got = nil
	return got
}

// stop marks the func stopped: what it receives from now on is late.
func (w *wakes) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

// await waits until the Wakes received since the last take satisfy ok, failing
// the test after patience.
func (e *env) await(w *wakes, what string, ok func([]backend.Wake) bool) {
	e.Helper()
	deadline := time.After(patience)
	var seen []backend.Wake
	for {
		seen = append(seen, w.take()...)
		for _, wk := range seen {
			if wk.Queue != "" && wk.Count < 1 {
				e.Fatalf("Wake %+v names a queue with a count below 1", wk)
			}
		}
		if ok(seen) {
			return
		}
		select {
		case <-w.signal:
		case <-deadline:
			e.Fatalf("%s: no such wake-up within %v; received %+v", what, patience, seen)
		}
	}
}

// covers returns a check that Wakes announce n tasks in queue: Wakes of the
// queue whose counts add up to n, or a Wake that tells every waiter to look (a
// Wake{Cancelled} does not).
func covers(queue string, n int) func([]backend.Wake) bool {
	return func(ws []backend.Wake) bool {
		sum := 0
		for _, w := range ws {
			if w == (backend.Wake{}) {
				return true
			}
			if w.Queue == queue {
				sum += w.Count
			}
		}
		return sum >= n
	}
}

// testDriverNotify listens with two funcs and checks that an enqueue of 3 tasks
// and a release each reach both, as from the moment Notify returns, and that
// after the first's stop returns only the second hears of the next enqueue.
func testDriverNotify(e *env) {
	h := e.handle()
	n, ok := h.(backend.Notifier)
	if !ok {
		e.Skip("optional: the driver does not implement backend.Notifier; keyq polls at each Dequeue's Next instead")
	}
	w1, w2 := newWakes(), newWakes()
	stop1, err := n.Notify(e.ctx, w1.f)
	if err != nil {
		e.Fatalf("Notify: %v", err)
	}
	stop2, err := n.Notify(e.ctx, w2.f)
	if err != nil {
		e.Fatalf("second Notify: %v", err)
	}
	defer stop2()
	e.put(h, backend.EnqueueParams{Queue: "q"}, "a", "b", "c")
	e.await(w1, "an enqueue of 3 tasks to q", covers("q", 3))
	e.await(w2, "an enqueue of 3 tasks to q, second listener", covers("q", 3))

	ls := e.takePayloads(h, []string{"q"}, "a", "b")
	w1.take()
	e.settleAll(h, results(backend.SettleDone, backend.SettleDone), release(ls[0]), ack(ls[1]))
	e.await(w1, "a release to q", covers("q", 1))

	stop1()
	w1.stop()
	w2.take()
	e.put(h, backend.EnqueueParams{Queue: "q"}, "d")
	e.await(w2, "an enqueue after the first listener stopped", covers("q", 1))
	w1.mu.Lock()
	late := w1.late
	w1.mu.Unlock()
	if len(late) > 0 {
		e.Fatalf("a func was called after its stop returned, with %+v", late)
	}
}
