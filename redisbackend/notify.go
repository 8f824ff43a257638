package redisbackend

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/redisbackend/internal/lua"
	"github.com/redis/go-redis/v9"
)

// Notify implements backend.Notifier. Scripts that make tasks available PUBLISH
// "<count>:<queue>" on the namespace's channel, lua.MsgEvent followed by
// milliseconds when a delayed task or lease deadline that far away comes sooner
// than any known, an empty message to look again, and lua.MsgCancelled
// followed by a task ID when Cancel ended the task's lease; Notify passes them
// on to f as Wake{Queue, Count}, Wake{In}, Wake{} and Wake{Cancelled: id}. Any
// other message is Wake{}. One Pub/Sub connection per Backend
// subscribes to the channels of the namespaces someone listens on, and Notify
// returns once the server has confirmed the namespace's channel. Messages sent
// while the subscription was down are lost, so every (re)subscription
// confirmation sends Wake{} to every f of the channel; so does Close, after which
// f is not called again. Channels stay subscribed until Close.
//
// The scripts publish only while some listener may hear them (the state key
// lua.KeyListen): Notify sets that key before it returns, and the Backend renews
// it while the namespace has a listener (see waiter). A renewal that finds the
// key lapsed meanwhile (a failover, a lost key, renewals that failed) sends
// Wake{}: wake-ups may have gone unpublished.
func (n *namespace) Notify(ctx context.Context, f func(backend.Wake)) (stop func(), err error) {
	if f == nil {
		return nil, fmt.Errorf("%w: nil notify function", backend.ErrInvalid)
	}
	if err := n.b.begin(ctx, nil); err != nil {
		return nil, err
	}
	r, err := n.b.wait.register(ctx, n.k.channel, n.listen, f)
	if err != nil {
		return nil, n.b.closedOr(err)
	}
	var once sync.Once
	return func() { once.Do(func() { n.b.wait.unregister(n.k.channel, r) }) }, nil
}

// listen renews the namespace's listener field (scripts/listen.lua) for d and
// returns the field's life.
func (n *namespace) listen(ctx context.Context, d time.Duration) (string, error) {
	r, err := n.b.run(ctx, scriptListen, n.k.all, durMS(d), newEpoch())
	if err != nil {
		return "", err
	}
	life, ok := r[0].(string)
	if !ok || life == "" {
		return "", corrupt("listen reply %v", r[0])
	}
	return life, nil
}

// closedOr returns ErrClosed once the backend is closed, else err: a call cut short
// by Close reports the Close, not the broken connection it caused.
func (b *Backend) closedOr(err error) error {
	select {
	case <-b.closed:
		return backend.ErrClosed
	default:
		return err
	}
}

// waiter holds the Backend's Pub/Sub connection and the Notify registrations.
// It calls every f with w.mu held, so that unregister, which takes it, returns
// only once f will not be called again.
//
// A server whose ACL refuses the channel (Redis 7 users have no channel by
// default: acl-pubsub-default resetchannels) never confirms the subscription. When
// a subscription is not confirmed within probeAfter, the waiter publishes on the
// channel to find out; a NOPERM refusal is logged once per Backend, Notify
// returns, and the waiter calls the channel's functions with Wake{} every
// pollEvery, so that waiters poll, until a confirmation comes after all.
//
// Behind go-redis's Sentinel (failover) client the subscription may be left on a
// server that is no longer the master: go-redis moves its command connections
// to the new master on +switch-master, but not a Pub/Sub connection, which would
// hear no message until Sentinel demotes the old master, seconds later. So
// there the waiter watches where it listens (follow.go).
//
// The scripts publish only while the namespace's listener field says someone
// listens (scripts/common/begin.lua, Listeners). register renews it, for
// listenFor, before it returns, unless a renewal less than renewEvery ago did;
// while a channel has registrations, the waiter renews it every renewEvery,
// and at once after a channel is subscribed again, which may be on a new
// master. A renewal that returns another life of the field than the channel's
// last one sends Wake{} to the channel's functions.
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
	polling bool           // the poll loop runs
	subs    sync.WaitGroup // the goroutines that call ps.Subscribe, and the poll loop

	follow *follower // nil unless the client follows a master through Sentinel

	listenFor  time.Duration // how long a renewal of a listener field lasts
	renewEvery time.Duration // how often the fields of channels with registrations are renewed
	renewing   bool          // the renew loop runs
	kick       chan struct{} // asks the renew loop to renew now
}

type channelState struct {
	ready  chan struct{} // closed at the first subscription confirmation
	regs   []*notifyReg
	denied bool // the server refused the channel and has not confirmed it since

	// renew renews the namespace's listener field for d and returns its life
	// (namespace.listen); life is the last one it returned, "" before the
	// first, and renewed the host's time just before the last renewal was sent:
	// the field lasts until at least listenFor after it.
	renew   func(ctx context.Context, d time.Duration) (string, error)
	life    string
	renewed time.Time
}

const (
	probeAfter = 200 * time.Millisecond // a subscription not confirmed by then is probed
	pollEvery  = 50 * time.Millisecond  // how often waiters poll when the channel is refused

	// listenFor is how long one renewal keeps a namespace's wake-ups published,
	// and renewEvery how often a Backend with a listener renews: two renewals
	// may fail before the field lapses. A Backend whose listeners have all
	// stopped, or that died, leaves the scripts publishing for up to listenFor.
	listenFor  = 10 * time.Second
	renewEvery = 3 * time.Second
)

// notifyReg is one Notify call.
type notifyReg struct{ f func(backend.Wake) }

// send calls every registered function with wk; the caller holds w.mu.
func (st *channelState) send(wk backend.Wake) {
	for _, r := range st.regs {
		r.f(wk)
	}
}

func newWaiter(client redis.UniversalClient, closed <-chan struct{}, logger *slog.Logger) *waiter {
	return &waiter{client: client, closed: closed, logger: logger, chans: make(map[string]*channelState),
		listenFor: listenFor, renewEvery: renewEvery, kick: make(chan struct{}, 1)}
}

// register makes sure channel is subscribed, and its namespace's listener field
// renewed by renew, and registers f for its messages. The caller must
// unregister it.
func (w *waiter) register(ctx context.Context, channel string, renew func(context.Context, time.Duration) (string, error), f func(backend.Wake)) (*notifyReg, error) {
	r, err := w.subscribe(ctx, channel, renew, f)
	if err != nil {
		return nil, err
	}
	if err := w.heard(ctx, channel); err != nil {
		w.unregister(channel, r)
		return nil, err
	}
	return r, nil
}

// subscribe makes sure channel is subscribed and registers f for its messages.
func (w *waiter) subscribe(ctx context.Context, channel string, renew func(context.Context, time.Duration) (string, error), f func(backend.Wake)) (*notifyReg, error) {
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
	if !w.renewing {
		w.renewing = true
		w.subs.Add(1)
		go w.renewLoop()
	}
	st := w.chans[channel]
	if st == nil {
		st = &channelState{ready: make(chan struct{}), renew: renew}
		w.chans[channel] = st
	}
	r := &notifyReg{f: f}
	st.regs = append(st.regs, r)
	ps := w.ps
	if st.denied {
		w.pollLocked()
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
					return r, nil
				}
			case <-ctx.Done():
				err = backend.CtxErr(ctx)
				break confirm
			case <-w.closed:
				err = backend.ErrClosed
				break confirm
			}
		}
	case <-ctx.Done():
		err = backend.CtxErr(ctx)
	case <-w.closed:
		err = backend.ErrClosed
	}
	w.unregister(channel, r)
	return nil, err
}

// heard makes sure the listener field of channel's namespace lasts a while yet,
// listenFor - renewEvery at least: it renews it unless a renewal less than
// renewEvery ago did.
// A channel the server refuses (waiters poll) needs no field, and an error
// renewing it is ignored.
func (w *waiter) heard(ctx context.Context, channel string) error {
	w.mu.Lock()
	st := w.chans[channel]
	fresh := !st.renewed.IsZero() && time.Since(st.renewed) < w.renewEvery
	denied := st.denied
	w.mu.Unlock()
	if fresh {
		return nil
	}
	if err := w.renew(ctx, st); err != nil && !denied {
		return w.closedOrMapped(ctx, err)
	}
	return nil
}

// closedOrMapped returns ErrClosed once the waiter is closed, else err mapped.
func (w *waiter) closedOrMapped(ctx context.Context, err error) error {
	select {
	case <-w.closed:
		return backend.ErrClosed
	default:
		return mapErr(ctx, err)
	}
}

// renew renews the listener field of st's namespace, and sends Wake{} to st's
// functions when the field's life is not the one st's last renewal saw.
func (w *waiter) renew(ctx context.Context, st *channelState) error {
	sent := time.Now()
	life, err := st.renew(ctx, w.listenFor)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if st.life != "" && st.life != life && !w.closing {
		st.send(backend.Wake{}) // the field lapsed: wake-ups may have been lost
	}
	st.life = life
	if sent.After(st.renewed) {
		st.renewed = sent
	}
	return nil
}

// renewLoop renews, every renewEvery and when kicked, the listener fields of the
// channels that have registrations, until Close.
func (w *waiter) renewLoop() {
	defer w.subs.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-w.closed
		cancel()
	}()
	t := time.NewTicker(w.renewEvery)
	defer t.Stop()
	for {
		select {
		case <-w.closed:
			return
		case <-t.C:
		case <-w.kick:
		}
		w.renewAll(ctx)
	}
}

// renewAll renews the listener fields of the channels that have registrations.
// A failed renewal is tried again at the renew loop's next tick; two may fail
// before the field lapses, and a later one that finds it lapsed wakes the
// channel's functions.
func (w *waiter) renewAll(ctx context.Context) {
	w.mu.Lock()
	var due []*channelState
	for _, st := range w.chans {
		if len(st.regs) > 0 && !w.closing {
			due = append(due, st)
		}
	}
	w.mu.Unlock()
	for _, st := range due {
		_ = w.renew(ctx, st)
	}
}

// kickRenew asks the renew loop to renew every listener field now.
func (w *waiter) kickRenew() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
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
	w.pollLocked()
	w.mu.Unlock()
	w.warned.Do(func() {
		w.logger.Warn("redisbackend: the server refuses this user the wake-up channel; waiting consumers poll every "+
			pollEvery.String()+" instead of waking when tasks arrive. Allow the user the channels of keyq's key prefix (ACL &pattern).",
			"channel", channel, "error", err.Error())
	})
	return true
}

// pollLocked starts the poll loop unless it runs; the caller holds w.mu.
func (w *waiter) pollLocked() {
	if !w.polling && !w.closing {
		w.polling = true
		w.subs.Add(1)
		go w.poll()
	}
}

// poll sends Wake{} every pollEvery to the functions of every channel the server
// refuses, while some are registered there, until Close.
func (w *waiter) poll() {
	defer w.subs.Done()
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		select {
		case <-w.closed:
			return
		case <-t.C:
		}
		w.mu.Lock()
		any := false
		for _, st := range w.chans {
			if st.denied && len(st.regs) > 0 && !w.closing {
				any = true
				st.send(backend.Wake{})
			}
		}
		if !any {
			w.polling = false
		}
		w.mu.Unlock()
		if !any {
			return
		}
	}
}

// unregister removes a registration.
func (w *waiter) unregister(channel string, r *notifyReg) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st := w.chans[channel]; st != nil {
		st.regs = slices.DeleteFunc(st.regs, func(o *notifyReg) bool { return o == r })
		if len(st.regs) == 0 {
			// Nobody is left to have missed a wake-up: the next listener
			// takes the field's life as it finds it.
			st.life = ""
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
		var name string
		var wk backend.Wake
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
			if id, ok := strings.CutPrefix(m.Payload, lua.MsgCancelled); ok {
				if id != "" {
					wk = backend.Wake{Cancelled: id}
				}
			} else if ms, ok := strings.CutPrefix(m.Payload, lua.MsgEvent); ok {
				if n, err := strconv.ParseInt(ms, 10, 64); err == nil && n > 0 && n <= backend.MaxDuration.Milliseconds() {
					wk = backend.Wake{In: time.Duration(n) * time.Millisecond}
				}
			} else if count, q, ok := strings.Cut(m.Payload, ":"); ok {
				if c, err := strconv.Atoi(count); err == nil && c > 0 && q != "" {
					wk = backend.Wake{Queue: q, Count: c}
				}
			}
		default:
			continue
		}
		w.mu.Lock()
		if st := w.chans[name]; st != nil && !w.closing {
			st.denied = false
			select {
			case <-st.ready:
				if _, ok := msg.(*redis.Subscription); ok {
					// Subscribed again, perhaps on a new master, which may
					// not have the listener field: renew it now.
					w.kickRenew()
				}
			default:
				close(st.ready)
			}
			st.send(wk)
		}
		w.mu.Unlock()
	}
}

// close sends Wake{} to every registration and forgets them, then ends the
// subscription and waits for the receive loop, the poll loop and every Subscribe
// call to end. go-redis holds the Pub/Sub's lock while it connects, and
// Close needs it: against a server that accepts and never answers, close takes
// up to the client's dial and read timeouts.
func (w *waiter) close() {
	w.mu.Lock()
	w.closing = true
	for _, st := range w.chans {
		st.send(backend.Wake{})
		st.regs = nil
	}
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
