package keyqprom

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultScrapeTimeout bounds the store reads of one scrape unless ScrapeTimeout
// says otherwise. It is below Prometheus's default scrape timeout of 10s, so that a
// slow store shows up as keyq_up 0 rather than as a failed scrape.
const DefaultScrapeTimeout = 5 * time.Second

// Collector reads the queues and counters of keyq namespaces from their store on
// every scrape, with one Client.Stats call per namespace, run concurrently and
// bounded together by the scrape timeout. Register it with a prometheus.Registerer.
//
// A namespace whose read fails or runs out of time reports keyq_up 0 and adds one
// to keyq_scrape_errors_total; its queue and counter metrics are left out of that
// scrape, and the rest of the scrape goes on. Methods are safe for concurrent use.
type Collector struct {
	targets []target
	timeout time.Duration
	log     *slog.Logger

	tasks, up, took *prometheus.Desc
	counters        []counterDesc
	errs            *prometheus.CounterVec
}

type target struct {
	c      *keyq.Client
	queues []string
}

type counterDesc struct {
	desc  *prometheus.Desc
	value func(keyq.Counters) int64
}

// Option configures a Collector.
type Option func(*Collector)

// Namespace adds the namespace of c to the collector. With queues, the collector
// reports those queues only (each costs the store a few reads); without, every
// queue the namespace has seen, as Client.Stats lists them.
func Namespace(c *keyq.Client, queues ...string) Option {
	return func(col *Collector) {
		col.targets = append(col.targets, target{c, append([]string(nil), queues...)})
	}
}

// ScrapeTimeout bounds the store reads of one scrape. The default is
// DefaultScrapeTimeout; each read is also bounded by its client's operation
// timeout.
func ScrapeTimeout(d time.Duration) Option { return func(col *Collector) { col.timeout = d } }

// Logger sets where the collector logs failed reads (warn). The default discards
// them; keyq_up and keyq_scrape_errors_total report them either way.
func Logger(l *slog.Logger) Option { return func(col *Collector) { col.log = l } }

// NewCollector returns a collector of the namespaces given with Namespace. It fails
// with an error matching keyq.ErrInvalid when none is given, a client is nil, a
// namespace is given twice, a queue name is empty, or the timeout is not positive,
// and with one matching errors.ErrUnsupported when a namespace's backend cannot
// read its stats (its driver has no backend.Inspector).
func NewCollector(opts ...Option) (*Collector, error) {
	col := &Collector{timeout: DefaultScrapeTimeout, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(col)
	}
	if err := col.validate(); err != nil {
		return nil, fmt.Errorf("keyqprom: new collector: %w", err)
	}
	nsLabels := []string{"namespace"}
	col.tasks = prometheus.NewDesc("keyq_queue_tasks",
		"Tasks of a queue by state (waiting, leased, delayed, dead), read from the store at scrape time.",
		[]string{"namespace", "queue", "state"}, nil)
	col.up = prometheus.NewDesc("keyq_up",
		"Whether the last scrape read the namespace's stats from the store (1) or failed (0).", nsLabels, nil)
	col.took = prometheus.NewDesc("keyq_scrape_duration_seconds",
		"How long the last scrape took to read the namespace's stats from the store.", nsLabels, nil)
	for _, c := range []struct {
		name, help string
		value      func(keyq.Counters) int64
	}{
		{"enqueued", "Tasks enqueued into the namespace.", func(c keyq.Counters) int64 { return c.Enqueued }},
		{"delivered", "Leases handed out: deliveries of tasks to consumers.", func(c keyq.Counters) int64 { return c.Delivered }},
		{"acked", "Leases acked: tasks done for good.", func(c keyq.Counters) int64 { return c.Acked }},
		{"released", "Leases released: tasks put back or dead-lettered by a consumer.", func(c keyq.Counters) int64 { return c.Released }},
		{"reclaimed", "Leases that expired and whose tasks the store took back.", func(c keyq.Counters) int64 { return c.Reclaimed }},
		{"deduped", "Tasks dropped on dequeue because their key already had an answer.", func(c keyq.Counters) int64 { return c.Deduped }},
		{"dead", "Tasks dead-lettered.", func(c keyq.Counters) int64 { return c.Dead }},
	} {
		col.counters = append(col.counters, counterDesc{
			prometheus.NewDesc("keyq_tasks_"+c.name+"_total", c.help+" Read from the store's counters at scrape time.", nsLabels, nil),
			c.value,
		})
	}
	col.errs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyq_scrape_errors_total",
		Help: "Scrapes whose read of the namespace's stats from the store failed or ran out of time.",
	}, nsLabels)
	for _, t := range col.targets {
		col.errs.WithLabelValues(t.c.Namespace()) // report 0 before the first error
	}
	return col, nil
}

func (col *Collector) validate() error {
	if len(col.targets) == 0 {
		return fmt.Errorf("%w: no namespace to collect", keyq.ErrInvalid)
	}
	if col.timeout <= 0 {
		return fmt.Errorf("%w: scrape timeout %v is not positive", keyq.ErrInvalid, col.timeout)
	}
	if col.log == nil {
		return fmt.Errorf("%w: nil logger", keyq.ErrInvalid)
	}
	seen := make(map[string]bool)
	for _, t := range col.targets {
		if t.c == nil {
			return fmt.Errorf("%w: nil client", keyq.ErrInvalid)
		}
		ns := t.c.Namespace()
		if seen[ns] {
			return fmt.Errorf("%w: namespace %q given twice", keyq.ErrInvalid, ns)
		}
		seen[ns] = true
		if h, err := t.c.Backend().Namespace(ns); err != nil {
			return fmt.Errorf("namespace %q: %w", ns, err)
		} else if _, ok := h.(backend.Inspector); !ok {
			return fmt.Errorf("namespace %q: %w", ns, backend.Unsupported("reading stats without a backend.Inspector"))
		}
		for _, q := range t.queues {
			if q == "" {
				return fmt.Errorf("%w: empty queue name in namespace %q", keyq.ErrInvalid, ns)
			}
		}
	}
	return nil
}

// Describe sends the descriptors of every metric the collector reports.
func (col *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- col.tasks
	ch <- col.up
	ch <- col.took
	for _, c := range col.counters {
		ch <- c.desc
	}
	col.errs.Describe(ch)
}

// Collect reads every namespace's stats from its store, concurrently, within the
// scrape timeout, and sends the metrics.
func (col *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), col.timeout)
	defer cancel()
	type result struct {
		st   keyq.Stats
		err  error
		took time.Duration
	}
	res := make([]result, len(col.targets))
	var wg sync.WaitGroup
	for i, t := range col.targets {
		wg.Go(func() {
			start := time.Now()
			st, err := t.c.Stats(ctx, t.queues...)
			res[i] = result{st, err, time.Since(start)}
		})
	}
	wg.Wait()
	for i, t := range col.targets {
		ns, r := t.c.Namespace(), res[i]
		ch <- prometheus.MustNewConstMetric(col.took, prometheus.GaugeValue, r.took.Seconds(), ns)
		if r.err != nil {
			col.errs.WithLabelValues(ns).Inc()
			col.log.Warn("keyqprom: reading stats failed", "namespace", ns, "err", r.err)
			ch <- prometheus.MustNewConstMetric(col.up, prometheus.GaugeValue, 0, ns)
			continue
		}
		ch <- prometheus.MustNewConstMetric(col.up, prometheus.GaugeValue, 1, ns)
		queues := make([]string, 0, len(r.st.Queues))
		for q := range r.st.Queues {
			queues = append(queues, q)
		}
		sort.Strings(queues)
		for _, q := range queues {
			s := r.st.Queues[q]
			for _, v := range []struct {
				state string
				n     int64
			}{{"waiting", s.Waiting}, {"leased", s.Leased}, {"delayed", s.Delayed}, {"dead", s.Dead}} {
				ch <- prometheus.MustNewConstMetric(col.tasks, prometheus.GaugeValue, float64(v.n), ns, q, v.state)
			}
		}
		for _, c := range col.counters {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.value(r.st.Counters)), ns)
		}
	}
	col.errs.Collect(ch)
}
