package conformance

import (
	"errors"
	"time"

	"github.com/keyq/keyq"
)

func init() {
	register(
		test{name: "S5.1 an answer keeps its outcome and the TTL for it", fn: testAnswerOutcome},
		test{name: "S5.1 storing again replaces value and TTL", fn: testAnswerReplace},
		test{name: "S5.2 a missing answer is ErrNotFound", fn: testAnswerMissing},
		test{name: "S5.2 a plain read leaves the TTL, a refreshing read resets it", fn: testAnswerRefresh},
		test{name: "S5.2 answer reports time left", fn: testAnswerLeft},
		test{name: "S5.2 answer reports time left: a full TTL after a refreshing read", fn: testAnswerLeftRefresh},
		test{name: "S5.3 an expired answer is gone and its key delivered again", fn: testAnswerExpiry},
		test{name: "S5.4 answers can be deleted", fn: testAnswerDelete},
	)
}

func (e *env) answer(c *keyq.Client, key string) keyq.Answer {
	e.Helper()
	a, err := c.Answer(e.ctx, key)
	if err != nil {
		e.Fatalf("Answer(%q): %v", key, err)
	}
	return a
}

func testAnswerOutcome(e *env) {
	c := e.client(keyq.WithAnswerTTL(e.u(10), e.u(3)))
	stored := e.mark()
	if err := c.SetAnswer(e.ctx, "ok", []int{1, 2}); err != nil {
		e.Fatal(err)
	}
	if err := c.SetErrorAnswer(e.ctx, "err", map[string]string{"error": "timeout"}); err != nil {
		e.Fatal(err)
	}
	e.within(stored, 3, "storing the answers and reading them", func() {
		if a := e.answer(c, "ok"); !a.OK || string(a.Value) != "[1,2]" || a.TTL != e.u(10) {
			e.Fatalf("ok answer %+v (%s)", a, a.Value)
		}
		if a := e.answer(c, "err"); a.OK || string(a.Value) != `{"error":"timeout"}` || a.TTL != e.u(3) {
			e.Fatalf("error answer %+v (%s)", a, a.Value)
		}
	})
	e.advance(4)
	if ok, _ := c.Exists(e.ctx, "err"); ok {
		e.Fatal("error answer outlived its error TTL")
	}
	e.within(stored, 10, "storing the answer and reading it", func() {
		if ok, _ := c.Exists(e.ctx, "ok"); !ok {
			e.Fatal("ok answer gone before its TTL")
		}
	})
}

func testAnswerReplace(e *env) {
	c := e.client(keyq.WithAnswerTTL(e.u(10), e.u(3)))
	if err := c.SetAnswer(e.ctx, "k", "first"); err != nil {
		e.Fatal(err)
	}
	replaced := e.mark()
	if err := c.SetErrorAnswer(e.ctx, "k", "second"); err != nil {
		e.Fatal(err)
	}
	e.within(replaced, 3, "storing the answer and reading it", func() {
		if a := e.answer(c, "k"); a.OK || string(a.Value) != `"second"` || a.TTL != e.u(3) {
			e.Fatalf("replaced answer %+v (%s)", a, a.Value)
		}
	})
	e.advance(4)
	if ok, _ := c.Exists(e.ctx, "k"); ok {
		e.Fatal("the replacing answer kept the first answer's longer TTL")
	}
	if err := c.SetAnswer(e.ctx, "raw", []byte("bytes")); err != nil {
		e.Fatal(err)
	}
	var b []byte
	if err := e.answer(c, "raw").Decode(&b); err != nil || string(b) != "bytes" {
		e.Fatalf("byte answer decoded to %q, %v", b, err)
	}
}

func testAnswerMissing(e *env) {
	c := e.client()
	_, err := c.Answer(e.ctx, "nothing")
	e.wantErr("Answer", err, keyq.ErrNotFound)
	_, err = c.AnswerRefresh(e.ctx, "nothing")
	e.wantErr("AnswerRefresh", err, keyq.ErrNotFound)
	for _, s := range []error{keyq.ErrInvalid, keyq.ErrDuplicate, keyq.ErrLeaseLost, keyq.ErrTimeout, keyq.ErrUnavailable, keyq.ErrClosed} {
		if errors.Is(err, s) {
			e.Fatalf("a missing answer also matches %v", s)
		}
	}
	if ok, err := c.Exists(e.ctx, "nothing"); ok || err != nil {
		e.Fatalf("Exists = %v, %v; want false, nil", ok, err)
	}
	if ok, err := c.ExistsRefresh(e.ctx, "nothing"); ok || err != nil {
		e.Fatalf("ExistsRefresh = %v, %v; want false, nil", ok, err)
	}
}

func testAnswerRefresh(e *env) {
	c := e.client(keyq.WithAnswerTTL(e.u(10), e.u(10)))
	stored := e.mark()
	for _, k := range []string{"plain", "fresh", "exists"} {
		if err := c.SetAnswer(e.ctx, k, k); err != nil {
			e.Fatal(err)
		}
	}
	e.advance(8)
	refreshed := e.mark()
	e.within(stored, 10, "storing the answers and reading them", func() {
		e.answer(c, "plain")
		if _, err := c.AnswerRefresh(e.ctx, "fresh"); err != nil {
			e.Fatal(err)
		}
		if ok, err := c.ExistsRefresh(e.ctx, "exists"); !ok || err != nil {
			e.Fatalf("ExistsRefresh = %v, %v", ok, err)
		}
	})
	e.advance(3)
	if ok, _ := c.Exists(e.ctx, "plain"); ok {
		e.Fatal("a plain read refreshed the TTL")
	}
	e.within(refreshed, 10, "the refreshing reads and the reads after them", func() {
		for _, k := range []string{"fresh", "exists"} {
			if ok, _ := c.Exists(e.ctx, k); !ok {
				e.Fatalf("%s: gone although its TTL was refreshed", k)
			}
		}
	})
}

func testAnswerExpiry(e *env) {
	c := e.client(keyq.WithAnswerTTL(e.u(2), e.u(2)))
	if err := c.SetAnswer(e.ctx, "k", 1); err != nil {
		e.Fatal(err)
	}
	e.advance(3)
	_, err := c.Answer(e.ctx, "k")
	e.wantErr("Answer after its TTL", err, keyq.ErrNotFound)
	e.enqueue(c, "q", "k")
	e.nextPayload(c, "k")
}

func testAnswerDelete(e *env) {
	c := e.client()
	if err := c.SetAnswer(e.ctx, "k", 1); err != nil {
		e.Fatal(err)
	}
	if err := c.DeleteAnswer(e.ctx, "k"); err != nil {
		e.Fatal(err)
	}
	_, err := c.Answer(e.ctx, "k")
	e.wantErr("Answer after delete", err, keyq.ErrNotFound)
	e.wantErr("second delete", c.DeleteAnswer(e.ctx, "k"), keyq.ErrNotFound)
	e.enqueue(c, "q", "k")
	e.nextPayload(c, "k")
}

// wantLeft checks an answer's time left against the backend's clock: it was stored
// (or refreshed) between stored[0] and stored[1] and read between read[0] and
// read[1], so it has between TTL - (read[1] - stored[0]) and TTL - (read[0] -
// stored[1]) left. On a fake clock both readings of a pair are equal, and the
// answer must have exactly TTL - elapsed left; on real time the margin is what the
// calls took, as measured.
func (e *env) wantLeft(what string, a keyq.Answer, ttl time.Duration, stored, read [2]time.Time) {
	e.Helper()
	lo, hi := ttl-read[1].Sub(stored[0]), ttl-read[0].Sub(stored[1])
	if a.TTL != ttl || a.Left < lo || a.Left > hi || a.Left < 0 || a.Left > ttl {
		e.Fatalf("%s: TTL %v, %v left; want TTL %v and between %v and %v left (stored in [%v, %v], read in [%v, %v] on the backend's clock)",
			what, a.TTL, a.Left, ttl, lo, hi, stored[0], stored[1], read[0], read[1])
	}
}

// testAnswerLeft stores an answer, lets time pass, and checks that plain reads
// report the time left, TTL - elapsed, beside the full TTL, and leave it running.
func testAnswerLeft(e *env) {
	ttl := e.u(100)
	c := e.client(keyq.WithAnswerTTL(ttl, ttl))
	var stored, read [2]time.Time
	stored[0], stored[1] = e.between(func() {
		if err := c.SetAnswer(e.ctx, "k", 1); err != nil {
			e.Fatal(err)
		}
	})
	var a keyq.Answer
	read[0], read[1] = e.between(func() { a = e.answer(c, "k") })
	e.wantLeft("read at once", a, ttl, stored, read)
	e.advance(3)
	read[0], read[1] = e.between(func() { a = e.answer(c, "k") })
	e.wantLeft("read after 3 units", a, ttl, stored, read)
	if a.Left > ttl-e.u(3) {
		e.Fatalf("read after 3 units: %v left of a TTL of %v", a.Left, ttl)
	}
	e.advance(2)
	read[0], read[1] = e.between(func() { a = e.answer(c, "k") })
	e.wantLeft("a second plain read, 2 units later", a, ttl, stored, read)
}

// testAnswerLeftRefresh checks that a refreshing read reports the full TTL left,
// and that later plain reads count down from the refresh.
func testAnswerLeftRefresh(e *env) {
	ttl := e.u(100)
	c := e.client(keyq.WithAnswerTTL(ttl, ttl))
	if err := c.SetAnswer(e.ctx, "k", 1); err != nil {
		e.Fatal(err)
	}
	e.advance(4)
	var a keyq.Answer
	var refreshed, read [2]time.Time
	refreshed[0], refreshed[1] = e.between(func() {
		var err error
		if a, err = c.AnswerRefresh(e.ctx, "k"); err != nil {
			e.Fatal(err)
		}
	})
	if a.TTL != ttl || a.Left != ttl {
		e.Fatalf("refreshing read: TTL %v, %v left; want %v and %v", a.TTL, a.Left, ttl, ttl)
	}
	e.advance(2)
	read[0], read[1] = e.between(func() { a = e.answer(c, "k") })
	e.wantLeft("a plain read 2 units after a refresh", a, ttl, refreshed, read)
	refreshed[0], refreshed[1] = e.between(func() {
		if ok, err := c.ExistsRefresh(e.ctx, "k"); !ok || err != nil {
			e.Fatalf("ExistsRefresh = %v, %v", ok, err)
		}
	})
	e.advance(1)
	read[0], read[1] = e.between(func() { a = e.answer(c, "k") })
	e.wantLeft("a plain read 1 unit after ExistsRefresh", a, ttl, refreshed, read)
}
