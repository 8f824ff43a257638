package conformance

import (
	"errors"
	"strconv"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

func init() {
	register(
		test{name: "S4.6 a lease expired among many is lost before housekeeping reaches it", fn: testManyExpired},
		test{name: "RateLimiter: burst first, then one token per interval, shared by clients", fn: testRateLimiter},
	)
}

// testManyExpired expires more leases at once than one housekeeping round moves, and
// acks the last of them: it is lost although nothing has reclaimed it yet.
func testManyExpired(e *env) {
	c := e.client()
	n := backend.HousekeepingBatch + 5
	msgs := make([]keyq.Message, n)
	for i := range msgs {
		msgs[i] = keyq.Message{Payload: []byte(strconv.Itoa(i))}
	}
	if _, err := c.EnqueueBatch(e.ctx, "q", msgs); err != nil {
		e.Fatal(err)
	}
	var leases []keyq.Lease
	for len(leases) < n {
		ls, err := c.Dequeue(e.ctx, keyq.Batch(500), keyq.LeaseFor(e.u(2)))
		if err != nil || len(ls) == 0 {
			e.Fatalf("Dequeue after %d: %d leases, %v", len(leases), len(ls), err)
		}
		leases = append(leases, ls...)
	}
	e.advance(3)
	last := &leases[n-1]
	e.wantLost("Ack of the last expired lease", c.Ack(e.ctx, last, keyq.WithAnswer("late")))
	e.wantLost("Extend of the last expired lease", c.Extend(e.ctx, last, e.u(10)))
	if live, err := c.Leases(e.ctx, n); err != nil || len(live) != 0 {
		e.Fatalf("Leases = %d, %v; want no live lease", len(live), err)
	}
	if ok, _ := c.Exists(e.ctx, last.Key); ok {
		e.Fatal("a lost ack stored its answer")
	}
}

func testRateLimiter(e *env) {
	if _, ok := e.handle().(backend.RateLimiter); !ok {
		e.Skip("optional: the driver does not implement backend.RateLimiter; Client.Allow gives errors.ErrUnsupported")
	}
	c1, c2 := e.client(), e.client()
	interval := e.u(2)
	allow := func(c *keyq.Client) time.Duration {
		e.Helper()
		wait, err := c.Allow(e.ctx, "api", interval, 3)
		if err != nil {
			e.Fatalf("Allow: %v", err)
		}
		return wait
	}
	// One token comes back per interval after the burst: the fourth call is refused
	// if it comes within an interval of the first, and after 2.5 intervals one token
	// is there but not two, until 4 intervals have passed.
	burst := e.mark()
	e.within(burst, 2, "a burst and a fourth call inside one interval", func() {
		for i, c := range []*keyq.Client{c1, c2, c1} {
			if w := allow(c); w != 0 {
				e.Fatalf("token %d of a burst of 3: wait %v", i+1, w)
			}
		}
		if w := allow(c2); w <= 0 || w > interval {
			e.Fatalf("a fourth token at once: wait %v, want within (0, %v]", w, interval)
		}
	})
	e.advance(2.5)
	if w := allow(c2); w != 0 {
		e.Fatalf("after an interval: wait %v, want a token", w)
	}
	e.within(burst, 4, "the burst and a second token inside two intervals", func() {
		if w := allow(c1); w <= 0 {
			e.Fatalf("a second token within the interval: wait %v, want one", w)
		}
	})
	_, err := c1.Allow(e.ctx, "api", 0, 1)
	if !errors.Is(err, keyq.ErrInvalid) {
		e.Fatalf("Allow with a zero interval: %v, want ErrInvalid", err)
	}
}
