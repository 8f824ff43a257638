package conformance

import (
	"fmt"

	"github.com/keyq/keyq"
)

func init() {
	register(
		test{name: "S3.8 a weighted dequeue falls back to the other queues and serves each of them", fn: testWeighted},
	)
}

func testWeighted(e *env) {
	c := e.client()
	e.enqueue(c, "light", "only")
	// The heavy queue is drawn first in all but 1 of 1,000,001 calls; it is empty.
	l := e.next(c, keyq.Weighted(map[string]int{"heavy": keyq.MaxWeight, "light": 1}))
	if l.Queue != "light" {
		e.Fatalf("weighted Next took from %q, want the only queue with a task, light", l.Queue)
	}
	e.ack(c, l)
	for i := range 50 {
		e.enqueue(c, "a", fmt.Sprint("a", i))
		e.enqueue(c, "b", fmt.Sprint("b", i))
	}
	// With weights 1 and 1, 50 calls all from one queue have a chance of 2^-49.
	count := map[string]int{}
	for range 50 {
		l := e.next(c, keyq.Weighted(map[string]int{"a": 1, "b": 1}))
		count[l.Queue]++
		e.ack(c, l)
	}
	if count["a"] == 0 || count["b"] == 0 {
		e.Fatalf("50 weighted calls with equal weights served %v, want both queues", count)
	}
}
