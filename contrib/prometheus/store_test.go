package keyqprom_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	keyqprom "github.com/keyq/keyq/contrib/prometheus"
	"github.com/keyq/keyq/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCollector scrapes a live registry over a known state of two namespaces and
// checks every queue gauge and counter against it, and that the metrics pass the
// linter of promtool check metrics.
func TestCollector(t *testing.T) {
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			ctx := context.Background()
			b := bk.open(t)
			shop, err := keyq.New(b, "shop", keyq.WithQueues("a", "b"))
			if err != nil {
				t.Fatal(err)
			}
			mail, err := keyq.New(b, "mail")
			if err != nil {
				t.Fatal(err)
			}
			// shop/a: 3 enqueued, one leased, one dead-lettered, one waiting.
			// shop/b: one delayed. mail/default: one waiting; c is not asked for.
			for _, p := range []string{"a1", "a2", "a3"} {
				if _, err := shop.Enqueue(ctx, "a", []byte(p)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := shop.Enqueue(ctx, "b", []byte("b1"), keyq.Delay(time.Hour)); err != nil {
				t.Fatal(err)
			}
			ls, err := shop.Dequeue(ctx, keyq.Batch(2))
			if err != nil || len(ls) != 2 {
				t.Fatalf("dequeue: %d leases, %v", len(ls), err)
			}
			if err := shop.Release(ctx, &ls[1], keyq.DeadLetter(), keyq.Because(errors.New("broken"))); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{"default", "c"} {
				if _, err := mail.Enqueue(ctx, q, []byte("m1")); err != nil {
					t.Fatal(err)
				}
			}

			col, err := keyqprom.NewCollector(keyqprom.Namespace(shop), keyqprom.Namespace(mail, "default"))
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(col)
			want := `
# HELP keyq_queue_tasks Tasks of a queue by state (waiting, leased, delayed, dead), read from the store at scrape time.
# TYPE keyq_queue_tasks gauge
keyq_queue_tasks{namespace="mail",queue="default",state="dead"} 0
keyq_queue_tasks{namespace="mail",queue="default",state="delayed"} 0
keyq_queue_tasks{namespace="mail",queue="default",state="leased"} 0
keyq_queue_tasks{namespace="mail",queue="default",state="waiting"} 1
keyq_queue_tasks{namespace="shop",queue="a",state="dead"} 1
keyq_queue_tasks{namespace="shop",queue="a",state="delayed"} 0
keyq_queue_tasks{namespace="shop",queue="a",state="leased"} 1
keyq_queue_tasks{namespace="shop",queue="a",state="waiting"} 1
keyq_queue_tasks{namespace="shop",queue="b",state="dead"} 0
keyq_queue_tasks{namespace="shop",queue="b",state="delayed"} 1
keyq_queue_tasks{namespace="shop",queue="b",state="leased"} 0
keyq_queue_tasks{namespace="shop",queue="b",state="waiting"} 0
# HELP keyq_tasks_enqueued_total Tasks enqueued into the namespace. Read from the store's counters at scrape time.
# TYPE keyq_tasks_enqueued_total counter
keyq_tasks_enqueued_total{namespace="mail"} 2
keyq_tasks_enqueued_total{namespace="shop"} 4
# HELP keyq_tasks_delivered_total Leases handed out: deliveries of tasks to consumers. Read from the store's counters at scrape time.
# TYPE keyq_tasks_delivered_total counter
keyq_tasks_delivered_total{namespace="mail"} 0
keyq_tasks_delivered_total{namespace="shop"} 2
# HELP keyq_tasks_dead_total Tasks dead-lettered. Read from the store's counters at scrape time.
# TYPE keyq_tasks_dead_total counter
keyq_tasks_dead_total{namespace="mail"} 0
keyq_tasks_dead_total{namespace="shop"} 1
# HELP keyq_up Whether the last scrape read the namespace's stats from the store (1) or failed (0).
# TYPE keyq_up gauge
keyq_up{namespace="mail"} 1
keyq_up{namespace="shop"} 1
# HELP keyq_scrape_errors_total Scrapes whose read of the namespace's stats from the store failed or ran out of time.
# TYPE keyq_scrape_errors_total counter
keyq_scrape_errors_total{namespace="mail"} 0
keyq_scrape_errors_total{namespace="shop"} 0
`
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
				"keyq_queue_tasks", "keyq_tasks_enqueued_total", "keyq_tasks_delivered_total",
				"keyq_tasks_dead_total", "keyq_up", "keyq_scrape_errors_total"); err != nil {
				t.Error(err)
			}
			// Every counter of Stats, by the same read.
			st, err := shop.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for name, v := range map[string]int64{
				"enqueued": st.Counters.Enqueued, "delivered": st.Counters.Delivered, "acked": st.Counters.Acked,
				"released": st.Counters.Released, "reclaimed": st.Counters.Reclaimed, "deduped": st.Counters.Deduped,
				"dead": st.Counters.Dead,
			} {
				if got := gathered(t, reg, "keyq_tasks_"+name+"_total", map[string]string{"namespace": "shop"}); got != float64(v) {
					t.Errorf("keyq_tasks_%s_total{namespace=shop} = %v, Stats says %d", name, got, v)
				}
			}
			lint(t, reg)
		})
	}
}

// slowStats is a backend whose Stats hangs until its context ends.
type slowStats struct{ backend.Backend }

func (s slowStats) Namespace(name string) (backend.Namespace, error) {
	h, err := s.Backend.Namespace(name)
	if err != nil {
		return nil, err
	}
	return slowStatsNamespace{h.(inspecting)}, nil
}

type inspecting interface {
	backend.Namespace
	backend.Inspector
}

type slowStatsNamespace struct{ inspecting }

func (slowStatsNamespace) Stats(ctx context.Context, _ backend.StatsParams) (backend.Stats, error) {
	<-ctx.Done()
	return backend.Stats{}, ctx.Err()
}

// TestCollectorTimeout checks that a namespace whose store does not answer ends
// the scrape at the scrape timeout with keyq_up 0 and one more scrape error, while
// the other namespaces are still reported.
func TestCollectorTimeout(t *testing.T) {
	b := memory.New()
	t.Cleanup(func() { _ = b.Close() })
	good, err := keyq.New(b, "good")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := good.Enqueue(context.Background(), "default", []byte("x")); err != nil {
		t.Fatal(err)
	}
	stuck, err := keyq.New(slowStats{b}, "stuck", keyq.WithOpTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 50 * time.Millisecond
	col, err := keyqprom.NewCollector(keyqprom.Namespace(good), keyqprom.Namespace(stuck), keyqprom.ScrapeTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	for scrape := 1; scrape <= 2; scrape++ {
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			done <- testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP keyq_up Whether the last scrape read the namespace's stats from the store (1) or failed (0).
# TYPE keyq_up gauge
keyq_up{namespace="good"} 1
keyq_up{namespace="stuck"} 0
# HELP keyq_queue_tasks Tasks of a queue by state (waiting, leased, delayed, dead), read from the store at scrape time.
# TYPE keyq_queue_tasks gauge
keyq_queue_tasks{namespace="good",queue="default",state="dead"} 0
keyq_queue_tasks{namespace="good",queue="default",state="delayed"} 0
keyq_queue_tasks{namespace="good",queue="default",state="leased"} 0
keyq_queue_tasks{namespace="good",queue="default",state="waiting"} 1
# HELP keyq_scrape_errors_total Scrapes whose read of the namespace's stats from the store failed or ran out of time.
# TYPE keyq_scrape_errors_total counter
keyq_scrape_errors_total{namespace="good"} 0
keyq_scrape_errors_total{namespace="stuck"} `+strconv.Itoa(scrape)+`
`), "keyq_up", "keyq_queue_tasks", "keyq_scrape_errors_total")
		}()
		if err := recv(t, done, "a scrape with a stuck store"); err != nil {
			t.Errorf("scrape %d: %v", scrape, err)
		}
		if took := time.Since(start); took < timeout {
			t.Errorf("scrape %d took %v, less than the %v timeout it should have waited for the stuck store", scrape, took, timeout)
		}
	}
	lint(t, reg)
}

// TestNewCollectorInvalid checks that bad options are refused with ErrInvalid.
func TestNewCollectorInvalid(t *testing.T) {
	b := memory.New()
	t.Cleanup(func() { _ = b.Close() })
	c, err := keyq.New(b, "ns")
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]keyqprom.Option{
		"no namespace": nil,
		"nil client":   {keyqprom.Namespace(nil)},
		"twice":        {keyqprom.Namespace(c), keyqprom.Namespace(c, "q")},
		"empty queue":  {keyqprom.Namespace(c, "")},
		"zero timeout": {keyqprom.Namespace(c), keyqprom.ScrapeTimeout(0)},
		"nil logger":   {keyqprom.Namespace(c), keyqprom.Logger(nil)},
	} {
		if _, err := keyqprom.NewCollector(opts...); !errors.Is(err, keyq.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// bare is a backend whose namespace handles have the required methods alone: a
// driver that cannot inspect.
type bare struct{ backend.Backend }

func (b bare) Namespace(name string) (backend.Namespace, error) {
	h, err := b.Backend.Namespace(name)
	if err != nil {
		return nil, err
	}
	return struct{ backend.Namespace }{h}, nil
}

// TestNewCollectorUnsupported checks that a namespace whose driver cannot read
// stats is refused when the collector is made, with errors.ErrUnsupported, not at
// every scrape.
func TestNewCollectorUnsupported(t *testing.T) {
	b := memory.New()
	t.Cleanup(func() { _ = b.Close() })
	c, err := keyq.New(bare{b}, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyqprom.NewCollector(keyqprom.Namespace(c)); !errors.Is(err, errors.ErrUnsupported) || errors.Is(err, keyq.ErrInvalid) {
		t.Errorf("NewCollector of a namespace whose driver has no Inspector: %v, want errors.ErrUnsupported", err)
	}
}
