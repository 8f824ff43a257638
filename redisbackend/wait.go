package redisbackend

import (
	"context"
	"slices"
	"sync"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// waiter wakes waiting Dequeue calls. Scripts that make a task available PUBLISH
// the queue's name on the namespace's channel (and an empty name when a delayed
// task or lease deadline comes sooner than any known). One Pub/Sub connection per
// Backend subscribes to the channels of the namespaces someone waits on; a message
// wakes the waiters of that queue, or all of the namespace's waiters for an empty
// name, and each tries again. A waiter holds no pool connection and ends at once
// when its ctx is done or the backend closes.
//
// A waiter registers before it tries to dequeue, so a message published after the
// try wakes it. Messages sent while the subscription was down are lost, so every
// (re)subscription confirmation wakes all waiters of the channel. Channels stay
// subscribed until Close.
type waiter struct {
	client redis.UniversalClient
	closed <-chan struct{}

	mu      sync.Mutex
	ps      *redis.PubSub
	chans   map[string]*channelState
	done    chan struct{} // closed when the receive loop has ended
	closing bool
}

type channelState struct {
	ready chan struct{} // closed at the first subscription confirmation
	regs  map[*waitReg]struct{}
}

// waitReg is one waiting Dequeue: c gets a value when one of its queues may have a
// task.
type waitReg struct {
	queues []string
	c      chan struct{}
}

func newWaiter(client redis.UniversalClient, closed <-chan struct{}) *waiter {
	return &waiter{client: client, closed: closed, chans: make(map[string]*channelState)}
}

// register makes sure channel is subscribed and registers a waiter for queues.
// The caller must unregister it.
func (w *waiter) register(ctx context.Context, channel string, queues []string) (*waitReg, error) {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return nil, backend.ErrClosed
	}
	if w.ps == nil {
		w.ps = w.client.Subscribe(context.WithoutCancel(ctx))
		w.done = make(chan struct{})
		go w.receive(w.ps.ChannelWithSubscriptions(), w.done)
	}
	st := w.chans[channel]
	if st == nil {
		st = &channelState{ready: make(chan struct{}), regs: make(map[*waitReg]struct{})}
		w.chans[channel] = st
	}
	r := &waitReg{queues: queues, c: make(chan struct{}, 1)}
	st.regs[r] = struct{}{}
	ps := w.ps
	w.mu.Unlock()

	select {
	case <-st.ready:
		return r, nil
	default:
	}
	err := ps.Subscribe(ctx, channel)
	if err == nil {
		select {
		case <-st.ready:
			return r, nil
		case <-ctx.Done():
			err = ctxErr(ctx)
		case <-w.closed:
			err = backend.ErrClosed
		}
	} else {
		err = mapErr(ctx, err)
	}
	w.unregister(channel, r)
	return nil, err
}

func (w *waiter) unregister(channel string, r *waitReg) {
	w.mu.Lock()
	if st := w.chans[channel]; st != nil {
		delete(st.regs, r)
	}
	w.mu.Unlock()
}

// receive dispatches Pub/Sub messages until the subscription closes.
func (w *waiter) receive(ch <-chan any, done chan struct{}) {
	defer close(done)
	for msg := range ch {
		var name, queue string
		all := false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			name, all = m.Channel, true
		case *redis.Message:
			name, queue, all = m.Channel, m.Payload, m.Payload == ""
		default:
			continue
		}
		w.mu.Lock()
		if st := w.chans[name]; st != nil {
			select {
			case <-st.ready:
			default:
				close(st.ready)
			}
			for r := range st.regs {
				if all || slices.Contains(r.queues, queue) {
					select {
					case r.c <- struct{}{}:
					default:
					}
				}
			}
		}
		w.mu.Unlock()
	}
}

// close ends the subscription and waits for the receive loop to end.
func (w *waiter) close() {
	w.mu.Lock()
	w.closing = true
	ps, done := w.ps, w.done
	w.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
		<-done
	}
}
