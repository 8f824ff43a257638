package conformance

import (
	"errors"

	"github.com/keyq/keyq"
)

func init() {
	register(
		test{name: "S5.1 an answer keeps its outcome and the TTL for it", fn: testAnswerOutcome},
		test{name: "S5.1 storing again replaces value and TTL", fn: testAnswerReplace},
		test{name: "S5.2 a missing answer is ErrNotFound", fn: testAnswerMissing},
		test{name: "S5.2 a plain read leaves the TTL, a refreshing read resets it", fn: testAnswerRefresh},
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
