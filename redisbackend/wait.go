package redisbackend

import (
	"context"
	"sync"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// waiter wakes waiting Dequeue calls. Scripts that make a task available PUBLISH
// the queue's name on the namespace's channel; one Pub/Sub connection per Backend
// subscribes to the channels of the namespaces someone waits on, and each message
// wakes every waiter of that namespace, which then tries again. A waiter holds no
// pool connection and ends at once when its ctx is done or the backend closes.
//
// A waiter takes the namespace's wake channel before it tries to dequeue, so a
// message published after the try wakes it. Messages sent while the subscription
// was down are lost, so every (re)subscription confirmation wakes everyone too.
// Channels stay subscribed until Close.
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
	wake  chan struct{} // closed and replaced on every message
}

func newWaiter(client redis.UniversalClient, closed <-chan struct{}) *waiter {
	return &waiter{client: client, closed: closed, chans: make(map[string]*channelState)}
}

// subscribe makes sure channel is subscribed and returns a Go channel that is
// closed at the next message on it.
func (w *waiter) subscribe(ctx context.Context, channel string) (<-chan struct{}, error) {
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
	fresh := st == nil
	if fresh {
		st = &channelState{ready: make(chan struct{}), wake: make(chan struct{})}
		w.chans[channel] = st
	}
	ps, wake := w.ps, st.wake
	w.mu.Unlock()

	select {
	case <-st.ready:
		return wake, nil
	default:
	}
	if err := ps.Subscribe(ctx, channel); err != nil {
		return nil, mapErr(ctx, err)
	}
	select {
	case <-st.ready:
		return wake, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-w.closed:
		return nil, backend.ErrClosed
	}
}

// receive dispatches Pub/Sub messages until the subscription closes.
func (w *waiter) receive(ch <-chan any, done chan struct{}) {
	defer close(done)
	for msg := range ch {
		var name string
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			name = m.Channel
		case *redis.Message:
			name = m.Channel
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
			close(st.wake)
			st.wake = make(chan struct{})
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
