package conformance

import (
	"context"
	"fmt"

	"github.com/keyq/keyq"
)

func init() {
	register(
		test{name: "S3.4 a waiter of several queues does not swallow another's wake-up", fn: testMultiQueueWaiters},
		test{name: "S3.4 a wake-up is passed on when the woken consumer gives up", fn: testWakeUpPassedOn},
		test{name: "S4.5 a waiting consumer gets a task whose lease expires meanwhile", fn: testWaiterGetsReclaimed},
		test{name: "S7.2 a waiting consumer gets a delayed task once it is due", fn: testWaiterGetsDelayed},
	)
}

// waitingNext starts a consumer that waits up to longWait for a task of queues.
func (e *env) waitingNext(c *keyq.Client, queues ...string) <-chan *keyq.Lease {
	return waitFor(func() *keyq.Lease {
		l, err := c.Next(e.ctx, keyq.Queues(queues...), keyq.Wait(longWait))
		if err != nil {
			e.Errorf("waiting Next(%v): %v", queues, err)
		}
		return l
	})
}

// testMultiQueueWaiters: a consumer of [a b] woken for a task in b may take a task
// that reached a meanwhile; the task left in b must then wake the consumer of b.
func testMultiQueueWaiters(e *env) {
	c := e.client(keyq.Queues("a", "b"))
	// A lease held elsewhere, due before the consumers' leases, so a driver cannot
	// rely on waking every waiter for a new earliest deadline.
	e.enqueue(c, "elsewhere", "held")
	e.next(c, keyq.Queues("elsewhere"), keyq.LeaseFor(e.u(20)))
	for round := range 10 {
		both := e.waitingNext(c, "a", "b")
		e.settle(1) // first in line, so the task in b wakes it rather than the consumer of b
		onlyB := e.waitingNext(c, "b")
		e.settle(2)
		e.enqueue(c, "b", fmt.Sprint("b", round))
		e.enqueue(c, "a", fmt.Sprint("a", round))
		first := receive(e, both, "the consumer of a and b")
		if first == nil {
			e.Fatal("the consumer of a and b got nothing")
		}
		e.ack(c, first)
		if first.Queue == "b" { // it retried before a's task came: b's consumer needs another
			e.enqueue(c, "b", fmt.Sprint("b", round, "+"))
		}
		l := receive(e, onlyB, "the consumer of b, with a task waiting in b")
		if l == nil || l.Queue != "b" {
			e.Fatalf("round %d: the consumer of b got %+v", round, l)
		}
		e.ack(c, l)
		e.drain(c)
	}
}

func testWakeUpPassedOn(e *env) {
	c := e.client()
	for round := range 20 {
		ctx, cancel := context.WithCancel(e.ctx)
		quitter := waitFor(func() *keyq.Lease {
			l, _ := c.Next(ctx, keyq.Wait(longWait))
			return l
		})
		stayer := e.waitingNext(c, "q")
		e.settle(2)
		e.enqueue(c, "q", fmt.Sprint(round))
		cancel() // races with the wake-up the enqueue sent, whoever got it
		if l := receive(e, quitter, "a cancelled consumer"); l != nil {
			e.ack(c, l) // it took the task before it saw the cancel: the stayer waits on
			e.enqueue(c, "q", fmt.Sprint(round, "b"))
		}
		if l := receive(e, stayer, "the consumer still waiting"); l == nil {
			e.Fatal("the waiting consumer got nothing")
		} else {
			e.ack(c, l)
		}
	}
}

func testWaiterGetsReclaimed(e *env) {
	c := e.client()
	e.enqueue(c, "q", "a")
	leased := e.mark()
	e.next(c, keyq.LeaseFor(e.u(2)))
	got := e.waitingNext(c, "q")
	e.within(leased, 2, "the lease and a consumer starting to wait inside it", func() { e.settle(1) })
	e.advance(3)
	if l := receive(e, got, "a waiting consumer after the lease expired"); l == nil || string(l.Payload) != "a" || l.Attempt != 1 {
		e.Fatalf("waiting consumer got %+v, want a at attempt 1", l)
	}
}

func testWaiterGetsDelayed(e *env) {
	c := e.client()
	got := e.waitingNext(c, "q")
	e.settle(1)
	e.enqueue(c, "q", "later", keyq.Delay(e.u(3)))
	e.advance(4)
	if l := receive(e, got, "a waiting consumer after the delay"); l == nil || string(l.Payload) != "later" {
		e.Fatalf("waiting consumer got %+v, want the delayed task", l)
	}
}
