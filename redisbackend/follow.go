package redisbackend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// followEvery is how often a waiter behind Sentinel checks that its Pub/Sub
// connection is on the master, while someone listens.
const followEvery = 250 * time.Millisecond

// follower keeps a waiter's subscription on the current master of a Sentinel
// deployment. go-redis's failover client dials every new connection to the
// master Sentinel names and, on +switch-master, closes its command connections
// to other servers, but not a Pub/Sub connection: that one stays on the old
// master, which after a failover hears no wake-up, until Sentinel demotes it
// seconds later. So the Pub/Sub connection also subscribes a channel of its own,
// and while someone listens, the follower publishes on it every followEvery
// through the command connections, which go to the master. PUBLISH answers how
// many clients heard it: none means the Pub/Sub connection is elsewhere, and the
// follower replaces it with a new one, dialed to the master, subscribed to every
// channel, and sends every listener Wake{} so that each looks again at once. A
// server that refuses the probe (an ACL without the channel, a server that is
// down) changes nothing.
type follower struct {
	channel string // the probe channel, under the key prefix for ACLs
	once    sync.Once
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu    sync.Mutex
	ready *redis.PubSub // the Pub/Sub connection that confirmed channel
	sent  *redis.PubSub // the Pub/Sub connection asked to subscribe channel
}

// newFollower returns a follower for a client of go-redis's Sentinel failover
// client, and nil for any other client.
func newFollower(client redis.UniversalClient, prefix string) *follower {
	c, ok := client.(*redis.Client)
	if !ok || c.Options().Addr != "FailoverClient" { // how go-redis names it
		return nil
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	ctx, cancel := context.WithCancel(context.Background())
	return &follower{channel: prefix + ":follow:" + hex.EncodeToString(id[:]), ctx: ctx, cancel: cancel}
}

// start starts following once; w.mu is held.
func (f *follower) start(w *waiter) {
	f.once.Do(func() {
		f.wg.Add(1)
		go f.loop(w)
	})
}

// stop ends the follower and waits for it.
func (f *follower) stop() {
	f.cancel()
	f.wg.Wait()
}

// confirmed records that ps subscribed the probe channel.
func (f *follower) confirmed(w *waiter, ps *redis.PubSub) {
	f.mu.Lock()
	f.ready = ps
	f.mu.Unlock()
}

func (f *follower) loop(w *waiter) {
	defer f.wg.Done()
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		ps, busy := w.ps, w.closing
		waiting := false
		for _, st := range w.chans {
			waiting = waiting || len(st.regs) > 0
		}
		w.mu.Unlock()
		if busy || ps == nil || !waiting {
			continue
		}
		f.mu.Lock()
		ready, sent := f.ready == ps, f.sent == ps
		f.sent = ps
		f.mu.Unlock()
		if !ready {
			if !sent { // Subscribe may wait for go-redis to connect
				f.subscribe(ps, f.channel)
			}
			continue
		}
		ctx, cancel := context.WithTimeout(f.ctx, 4*followEvery)
		n, err := w.client.Publish(ctx, f.channel, "").Result()
		cancel()
		if err == nil && n == 0 {
			f.move(w, ps)
		}
	}
}

// subscribe subscribes ps to channels.
func (f *follower) subscribe(ps *redis.PubSub, channels ...string) {
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	_ = ps.Subscribe(ctx, channels...)
}

// move replaces w's Pub/Sub connection old with a new one, subscribed to every
// channel, and sends every listener Wake{}.
func (f *follower) move(w *waiter, old *redis.PubSub) {
	w.mu.Lock()
	if w.closing || w.ps != old {
		w.mu.Unlock()
		return
	}
	ps := w.client.Subscribe(context.Background())
	oldDone := w.done
	w.ps, w.done = ps, make(chan struct{})
	go w.receive(ps, w.done)
	channels := []string{f.channel}
	for name, st := range w.chans {
		channels = append(channels, name)
		st.send(backend.Wake{}) // look again: tasks may have come meanwhile
	}
	f.mu.Lock()
	f.sent = ps
	f.mu.Unlock()
	w.mu.Unlock()
	w.logger.Info("redisbackend: the master changed; wake-ups now come from the new one")
	_ = old.Close()
	<-oldDone
	f.subscribe(ps, channels...)
}
