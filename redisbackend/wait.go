package redisbackend

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// waiter wakes waiting Dequeue calls. Scripts that make tasks available PUBLISH
// "<count>:<queue>" on the namespace's channel, and an empty message when a delayed
// task or lease deadline comes sooner than any known. One Pub/Sub connection per
// Backend subscribes to the channels of the namespaces someone waits on. A message
// for a queue wakes its waiters, longest waiting first, until their batch sizes
// add up to count, so that one task does not send every idle consumer to the
// server, nor a batch's worth every consumer that asks for a batch; an empty
// message wakes all of the namespace's waiters. A waiter holds no pool connection and ends at once
// when its ctx is done or the backend closes.
//
// A waiter registers before it tries to dequeue, so a message published after the
// try wakes it. A waiter woken for a queue that then leases a full batch, or leaves
// without trying, passes the wake-up on to another waiter of that queue: tasks may
// be left there. Messages sent while the subscription was down are lost, so every
// (re)subscription confirmation wakes all waiters of the channel. Channels stay
// subscribed until Close.
//
// A server whose ACL refuses the channel (Redis 7 users have no channel by
// default: acl-pubsub-default resetchannels) never confirms the subscription. When
// a subscription is not confirmed within probeAfter, the waiter publishes on the
// channel to find out; a NOPERM refusal is logged once per Backend, and waiters on
// that channel try again every pollEvery until a confirmation comes after all.
//
// Behind go-redis's Sentinel (failover) client the subscription may be left on a
// server that is no longer the master: go-redis moves its command connections
// to the new master on +switch-master, but not a Pub/Sub connection, which would
// hear no wake-up until Sentinel demotes the old master, seconds later. So
// there the waiter watches where it listens (follow.go).
type waiter struct {
	client redis.UniversalClient
	closed <-chan struct{}
	logger *slog.Logger
	warned sync.Once

	mu      sync.Mutex
	ps      *redis.PubSub
	chans   map[string]*channelState
	done    chan struct{} // closed when the receive loop has ended
	closing bool
	subs    sync.WaitGroup // the goroutines that call ps.Subscribe

	follow *follower // nil unless the client follows a master through Sentinel
}

type channelState struct {
	ready  chan struct{} // closed at the first subscription confirmation
	regs   []*waitReg    // in registration order
	denied bool          // the server refused the channel and has not confirmed it since
}

const (
	probeAfter = 200 * time.Millisecond // a subscription not confirmed by then is probed
	pollEvery  = 50 * time.Millisecond  // how often waiters try when the channel is refused
)

// waitReg is one waiting Dequeue, for up to count tasks. c receives the queue it
// was woken for, or "" when it should simply try again. poll is set when no
// wake-up will come: the server refused the channel.
type waitReg struct {
	queues []string
	count  int
	c      chan string
	poll   bool
}

func newWaiter(client redis.UniversalClient, closed <-chan struct{}, logger *slog.Logger) *waiter {
	return &waiter{client: client, closed: closed, logger: logger, chans: make(map[string]*channelState)}
}

// register makes sure channel is subscribed and registers a waiter for up to count
// tasks of queues. The caller must unregister it.
func (w *waiter) register(ctx context.Context, channel string, queues []string, count int) (*waitReg, error) {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return nil, backend.ErrClosed
	}
	if w.ps == nil {
		w.ps = w.client.Subscribe(context.WithoutCancel(ctx))
		w.done = make(chan struct{})
		go w.receive(w.ps, w.done)
		if w.follow != nil {
			w.follow.start(w)
		}
	}
	st := w.chans[channel]
	if st == nil {
		st = &channelState{ready: make(chan struct{})}
		w.chans[channel] = st
	}
	r := &waitReg{queues: queues, count: max(count, 1), c: make(chan string, 1), poll: st.denied}
	st.regs = append(st.regs, r)
	ps := w.ps
	if r.poll {
		w.mu.Unlock()
		return r, nil
	}
	select {
	case <-st.ready:
		w.mu.Unlock()
		return r, nil
	default:
	}
	w.subs.Add(1) // under w.mu, before close can wait
	w.mu.Unlock()

	// go-redis's PubSub.Subscribe waits for the PubSub's lock, which its reader
	// holds while it (re)connects: against a server that accepts but does not answer
	// that is up to its 10s reconnect timeout, whatever ctx says. So the call runs
	// on its own and this one waits for it, for ctx, or for Close.
	// close waits for it, so that none outlives Close (S8.3).
	subscribed := make(chan error, 1)
	go func() {
		defer w.subs.Done()
		subscribed <- ps.Subscribe(ctx, channel)
	}()
	var err error
	select {
	case err = <-subscribed:
		if err != nil && !w.replaced(ps) {
			err = mapErr(ctx, err)
			break
		}
		// Subscribed, or the subscription moved to a new Pub/Sub connection
		// meanwhile, which subscribes every channel (follow.go).
		err = nil
		probe := time.NewTimer(probeAfter)
		defer probe.Stop()
	confirm:
		for {
			select {
			case <-st.ready:
				return r, nil
			case <-probe.C:
				if w.refused(ctx, channel, st) {
					r.poll = true
					return r, nil
				}
			case <-ctx.Done():
				err = ctxErr(ctx)
				break confirm
			case <-w.closed:
				err = backend.ErrClosed
				break confirm
			}
		}
	case <-ctx.Done():
		err = ctxErr(ctx)
	case <-w.closed:
		err = backend.ErrClosed
	}
	w.unregister(channel, r)
	return nil, err
}

// refused publishes on channel to learn whether the server refuses it to this
// user, and if so marks it denied and logs that once.
func (w *waiter) refused(ctx context.Context, channel string, st *channelState) bool {
	err := w.client.Publish(ctx, channel, "").Err()
	if err == nil || !redis.HasErrorPrefix(err, "NOPERM") {
		return false
	}
	w.mu.Lock()
	select {
	case <-st.ready: // confirmed meanwhile after all
		w.mu.Unlock()
		return false
	default:
	}
	st.denied = true
	w.mu.Unlock()
	w.warned.Do(func() {
		w.logger.Warn("redisbackend: the server refuses this user the wake-up channel; waiting Dequeue calls try again every "+
			pollEvery.String()+" instead of waking when tasks arrive. Allow the user the channels of keyq's key prefix (ACL &pattern).",
			"channel", channel, "error", err.Error())
	})
	return true
}

// unregister removes a waiter. A wake-up for a queue it received and did not act
// on goes to another waiter of that queue.
func (w *waiter) unregister(channel string, r *waitReg) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.chans[channel]
	if st == nil {
		return
	}
	st.regs = slices.DeleteFunc(st.regs, func(o *waitReg) bool { return o == r })
	select {
	case q := <-r.c:
		if q != "" {
			st.wakeLocked(q, 1)
		}
	default:
	}
}

// passOn wakes one other waiter of queue q on channel.
func (w *waiter) passOn(channel, q string) {
	w.mu.Lock()
	if st := w.chans[channel]; st != nil {
		st.wakeLocked(q, 1)
	}
	w.mu.Unlock()
}

// wakeLocked wakes waiters of queue q until their batch sizes cover n tasks, or all
// waiters for q == "". The caller holds w.mu.
func (st *channelState) wakeLocked(q string, n int) {
	for _, r := range st.regs {
		if n <= 0 {
			return
		}
		if q != "" && !slices.Contains(r.queues, q) {
			continue
		}
		select {
		case r.c <- q:
			if q != "" {
				n -= r.count
			}
		default: // already woken
		}
	}
}

// replaced reports whether ps is no longer the waiter's Pub/Sub connection.
func (w *waiter) replaced(ps *redis.PubSub) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ps != ps && !w.closing
}

// receive dispatches the Pub/Sub messages of ps until it closes.
func (w *waiter) receive(ps *redis.PubSub, done chan struct{}) {
	defer close(done)
	for msg := range ps.ChannelWithSubscriptions() {
		var name, queue string
		n := 1
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			if w.follow != nil && m.Channel == w.follow.channel {
				w.follow.confirmed(w, ps)
				continue
			}
			name = m.Channel
		case *redis.Message:
			name = m.Channel
			if count, q, ok := strings.Cut(m.Payload, ":"); ok {
				if c, err := strconv.Atoi(count); err == nil && c > 0 {
					n, queue = c, q
				}
			}
		default:
			continue
		}
		w.mu.Lock()
		if st := w.chans[name]; st != nil {
			st.denied = false
			select {
			case <-st.ready:
			default:
				close(st.ready)
			}
			st.wakeLocked(queue, n)
		}
		w.mu.Unlock()
	}
}

// close ends the subscription and waits for the receive loop and every
// Subscribe call to end. go-redis holds the Pub/Sub's lock while it connects, and
// Close needs it: against a server that accepts and never answers, close takes
// up to the client's dial and read timeouts.
func (w *waiter) close() {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	if w.follow != nil {
		w.follow.stop() // it moves the subscription no more
	}
	w.mu.Lock()
	ps, done := w.ps, w.done
	w.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
		<-done
	}
	w.subs.Wait()
}
