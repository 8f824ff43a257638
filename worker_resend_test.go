package keyq_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/keyq/keyq/redisbackend"
)

// dropProxy forwards loopback connections to a Redis server one command at a
// time, and for about one script call (EVALSHA, EVAL, FCALL) in every k, chosen by
// a seeded generator, forwards the call, waits for the server's reply and then
// closes both connections instead of passing the reply on: the call ran, and the
// client sees a broken connection. Pub/Sub connections are passed through as they
// are.
type dropProxy struct {
	ln      net.Listener
	target  string
	k       int
	mu      sync.Mutex
	rng     *rand.Rand
	dropped atomic.Int64
	// exchanges and droppedExchanges count the calls of the exchange
	// function (a worker's acks and its next fetch in one FCALL), and those
	// whose replies were dropped.
	exchanges, droppedExchanges atomic.Int64
	wg                          sync.WaitGroup
}

func startDropProxy(t *testing.T, target string, k int, seed uint64) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, target: target, k: k, rng: rand.New(rand.NewPCG(seed, 7))}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *dropProxy) addr() string { return p.ln.Addr().String() }

func (p *dropProxy) drop() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.IntN(p.k) == 0
}

func (p *dropProxy) accept() {
	defer p.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			p.serve(c)
		}()
	}
}

func (p *dropProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	cr, sr := bufio.NewReader(client), bufio.NewReader(server)
	for {
		cmd, name, err := readCommand(cr)
		if err != nil {
			return
		}
		if _, err := server.Write(cmd); err != nil {
			return
		}
		if strings.HasSuffix(name, "SUBSCRIBE") { // Pub/Sub: no more request and reply
			go func() { _, _ = io.Copy(client, sr); client.Close() }()
			_, _ = io.Copy(server, cr)
			return
		}
		reply, err := readReply(sr)
		if err != nil {
			return
		}
		exchange := name == "FCALL" && bytes.Contains(cmd, []byte("_exchange\r\n"))
		if exchange {
			p.exchanges.Add(1)
		}
		if (name == "EVALSHA" || name == "EVAL" || name == "FCALL") && p.drop() {
			p.dropped.Add(1)
			if exchange {
				p.droppedExchanges.Add(1)
			}
			return // the call ran; its reply is lost with the connection
		}
		if _, err := client.Write(reply); err != nil {
			return
		}
	}
}

// readCommand reads one command, an array of bulk strings, and returns its bytes
// and its name in upper case.
func readCommand(r *bufio.Reader) ([]byte, string, error) {
	var buf bytes.Buffer
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, "", err
	}
	buf.WriteString(line)
	if line[0] != '*' {
		return nil, "", fmt.Errorf("command %q is not an array", line)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil {
		return nil, "", err
	}
	name := ""
	for i := range n {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, "", err
		}
		buf.WriteString(line)
		size, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil {
			return nil, "", err
		}
		arg := make([]byte, size+2)
		if _, err := io.ReadFull(r, arg); err != nil {
			return nil, "", err
		}
		buf.Write(arg)
		if i == 0 {
			name = strings.ToUpper(string(arg[:size]))
		}
	}
	return buf.Bytes(), name, nil
}

// readReply reads one RESP2 or RESP3 reply and returns its bytes.
func readReply(r *bufio.Reader) ([]byte, error) {
	var buf bytes.Buffer
	var read func() error
	read = func() error {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		buf.WriteString(line)
		body := strings.TrimSpace(line[1:])
		switch line[0] {
		case '+', '-', ':', '_', ',', '#', '(':
			return nil
		case '$', '=', '!':
			size, err := strconv.Atoi(body)
			if err != nil || size < 0 {
				return err
			}
			b := make([]byte, size+2)
			if _, err := io.ReadFull(r, b); err != nil {
				return err
			}
			buf.Write(b)
			return nil
		case '*', '~', '>', '%', '|':
			n, err := strconv.Atoi(body)
			if err != nil {
				return err
			}
			if line[0] == '%' || line[0] == '|' {
				n *= 2
			}
			for range n {
				if err := read(); err != nil {
					return err
				}
			}
			if line[0] == '|' { // an attribute comes before the reply it describes
				return read()
			}
			return nil
		}
		return fmt.Errorf("reply type %q", line[0])
	}
	err := read()
	return buf.Bytes(), err
}

// resendCounts is what a run through a dropProxy did.
type resendCounts struct {
	tasks, lost, duplicates, falseLost, reruns, failedEnqueues, dropped, dead int
	// reclaimed counts leases that expired: with the heartbeat, only those
	// whose tasks never reached the worker, as when a resent fetch leased
	// other tasks than its first run.
	reclaimed int
}

// TestResendsThroughDroppingProxy (S8.6): producers and a worker talk to Redis through
// a proxy that drops the reply of about one script call in ten, on a backend
// opened with OpenURL, whose go-redis client resends a command after a network
// error. Every enqueue that reports success queues its tasks once, every ack that
// reports ErrLeaseLost stored nothing, no task is lost and no handler runs twice
// (issue 12, item 3). The worker fetches in batches of 4, which settle apart
// from fetches; and at its default fetch size, where its acks ride on its
// fetches (Exchange), so that dropped replies hit calls that settle and lease
// at once.
func TestResendsThroughDroppingProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a few seconds of load through a proxy")
	}
	for _, tc := range []struct {
		name string
		cfg  keyq.WorkerConfig
	}{
		{"batch=4", keyq.WorkerConfig{Concurrency: 4, Batch: 4, Lease: time.Second}},
		{"defaults", keyq.WorkerConfig{Concurrency: 4, Lease: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			proxy := startDropProxy(t, srv.Addr, 10, 1)
			c := runThroughProxy(t, srv.Addr, proxy, tc.cfg)
			t.Logf("tasks %d, lost %d, duplicates from successful enqueues %d, false ErrLeaseLost %d, handler re-runs %d, leases expired %d (enqueue calls failed %d, dead-lettered %d, replies dropped %d; exchange calls %d, their replies dropped %d)",
				c.tasks, c.lost, c.duplicates, c.falseLost, c.reruns, c.reclaimed, c.failedEnqueues, c.dead, c.dropped,
				proxy.exchanges.Load(), proxy.droppedExchanges.Load())
			if c.lost != 0 || c.duplicates != 0 || c.falseLost != 0 || c.reruns != 0 || c.reclaimed != 0 {
				t.Errorf("resends changed the outcome: %+v", c)
			}
			if c.dropped == 0 {
				t.Errorf("the proxy dropped no reply: the test tested nothing")
			}
			if tc.cfg.Batch == 0 && proxy.droppedExchanges.Load() == 0 {
				t.Errorf("no exchange reply was dropped (%d exchange calls): the worker at its defaults was not tested", proxy.exchanges.Load())
			}
		})
	}
}

func runThroughProxy(t *testing.T, direct string, proxy *dropProxy, cfg keyq.WorkerConfig) resendCounts {
	t.Helper()
	const producers, perProducer, batch = 2, 300, 3
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitFor)
	defer cancel()
	ns := namespace(t)
	open := func() *keyq.Client {
		b, err := redisbackend.OpenURL(ctx, "redis://"+proxy.addr(), redisbackend.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		c, err := keyq.New(b, ns, keyq.Queues(q))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	var mu sync.Mutex
	enqueued := map[string]bool{} // keys whose enqueue reported success
	failedCalls := 0
	runs := map[string]int{}     // handler runs per key
	lostAcks := map[string]int{} // acks that reported ErrLeaseLost, per key
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := open()
			for i := 0; i < perProducer; i += batch {
				msgs := make([]keyq.Message, batch)
				for j := range msgs {
					msgs[j] = keyq.Message{Payload: fmt.Appendf(nil, "p%d-%d", p, i+j)}
				}
				_, err := c.EnqueueBatch(ctx, q, msgs)
				mu.Lock()
				if err != nil {
					failedCalls++ // not retried: whether it queued its tasks is unknown
				} else {
					for _, m := range msgs {
						enqueued[string(m.Payload)] = true
					}
				}
				mu.Unlock()
			}
		}()
	}

	wc := open()
	w := mustWorker(t, wc, cfg,
		keyq.WorkerConfig{PollWait: 100 * time.Millisecond},
		keyq.WorkerConfig{OnDone: func(task *keyq.Task, o keyq.Outcome, err error) {
			if o == keyq.OutcomeLost || errors.Is(err, keyq.ErrLeaseLost) {
				mu.Lock()
				lostAcks[string(task.Payload)]++
				mu.Unlock()
			}
		}},
	)
	w.HandleFunc("", func(_ context.Context, task *keyq.Task) (any, error) {
		mu.Lock()
		runs[string(task.Payload)]++
		mu.Unlock()
		return string(task.Payload), nil
	})
	wctx, wcancel := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(wctx) }()
	wg.Wait()

	// Look at the store directly, not through the proxy.
	rc := redis.NewClient(&redis.Options{Addr: direct})
	defer rc.Close()
	b, err := redisbackend.New(rc, redisbackend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	check, err := keyq.New(b, ns, keyq.Queues(q))
	if err != nil {
		t.Fatal(err)
	}
	for { // until nothing is waiting, leased or delayed: every task has been handled
		st, err := check.Stats(ctx, q)
		if err != nil {
			t.Fatalf("stats: %v", err)
		}
		qs := st.Queues[q]
		if qs.Waiting == 0 && qs.Leased == 0 && qs.Delayed == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("hung waiting for the worker to empty the queue: %+v", qs)
		case <-time.After(50 * time.Millisecond): // poll interval of the check
		}
	}
	wcancel()
	<-stopped

	st, err := check.Stats(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	c := resendCounts{tasks: len(enqueued), failedEnqueues: failedCalls, dropped: int(proxy.dropped.Load()),
		dead: int(st.Queues[q].Dead), reclaimed: int(st.Counters.Reclaimed)}
	answered := 0
	for p := range producers {
		for i := range perProducer {
			key := fmt.Sprintf("p%d-%d", p, i)
			_, err := check.Answer(context.Background(), key)
			if err == nil {
				answered++
			}
			if enqueued[key] && err != nil {
				c.lost++
			}
			if runs[key] > 1 {
				c.reruns += runs[key] - 1
			}
			// An ack reported lost, for a task that ran once and has its answer:
			// that ack stored it.
			if lostAcks[key] > 0 && runs[key] == 1 && err == nil {
				c.falseLost++
			}
		}
	}
	// Every task ever queued was handled or deduped, and each key has an answer:
	// tasks beyond one per answered key are duplicates.
	c.duplicates = int(st.Counters.Enqueued) - answered
	t.Logf("counters %+v", st.Counters)
	return c
}
