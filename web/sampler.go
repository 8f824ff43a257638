package web

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/keyq/keyq"
)

// maxWatched bounds the namespaces the sampler follows.
const maxWatched = 16

// sample is one reading of a namespace's Stats.
type sample struct {
	at    time.Time
	stats keyq.Stats
}

// sampler reads the Stats of the namespaces the dashboard has shown, every
// interval, and keeps the last n readings of each for the charts.
type sampler struct {
	s        *Server
	interval time.Duration
	n        int
	cancel   context.CancelFunc
	done     chan struct{}

	mu      sync.Mutex
	samples map[string][]sample
}

func newSampler(s *Server, interval time.Duration, n int) *sampler {
	ctx, cancel := context.WithCancel(context.Background())
	sm := &sampler{s: s, interval: interval, n: n, cancel: cancel, done: make(chan struct{}), samples: map[string][]sample{}}
	go sm.run(ctx)
	return sm
}

func (sm *sampler) stop() {
	sm.cancel()
	<-sm.done
}

// watch starts sampling namespace ns, unless the sampler follows maxWatched already.
func (sm *sampler) watch(ns string) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if _, ok := sm.samples[ns]; !ok && len(sm.samples) < maxWatched {
		sm.samples[ns] = nil
	}
}

func (sm *sampler) run(ctx context.Context) {
	defer close(sm.done)
	t := time.NewTicker(sm.interval)
	defer t.Stop()
	for {
		sm.readAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (sm *sampler) readAll(ctx context.Context) {
	sm.mu.Lock()
	names := sortedKeys(sm.samples)
	sm.mu.Unlock()
	for _, ns := range names {
		c, err := sm.s.client(ns)
		if err != nil {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, sm.interval)
		st, err := c.Stats(rctx)
		cancel()
		if err != nil {
			continue // a gap in the chart
		}
		sm.mu.Lock()
		h := append(sm.samples[ns], sample{time.Now(), st})
		if len(h) > sm.n {
			h = h[len(h)-sm.n:]
		}
		sm.samples[ns] = h
		sm.mu.Unlock()
	}
}

// history returns a copy of the readings of ns, oldest first.
func (sm *sampler) history(ns string) []sample {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return append([]sample(nil), sm.samples[ns]...)
}

// chart is an inline SVG line chart: its series as polyline points, in a
// chartW x chartH box.
type chart struct {
	W, H   int
	Series []series
	Max    string // the value at the top of the box
	Span   string // how far back the chart reaches
}

type series struct {
	Name   string
	Class  string
	Points string // "x,y x,y ..."
	Last   string
}

// The chart sizes, in SVG units.
const (
	chartW, chartH = 300, 80
	sparkW, sparkH = 120, 24
)

// rateChart charts the per-second rates of the namespace's enqueued, acked and
// dead counters between consecutive readings.
func rateChart(h []sample) chart {
	pick := []struct {
		name, class string
		f           func(keyq.Counters) int64
	}{
		{"enqueued/s", "enq", func(c keyq.Counters) int64 { return c.Enqueued }},
		{"acked/s", "ack", func(c keyq.Counters) int64 { return c.Acked }},
		{"dead/s", "dead", func(c keyq.Counters) int64 { return c.Dead }},
	}
	vals := make([][]float64, len(pick))
	for i := 1; i < len(h); i++ {
		dt := h[i].at.Sub(h[i-1].at).Seconds()
		for k, p := range pick {
			d := float64(p.f(h[i].stats.Counters) - p.f(h[i-1].stats.Counters))
			if d < 0 || dt <= 0 {
				d = 0 // counters reset
			} else {
				d /= dt
			}
			vals[k] = append(vals[k], d)
		}
	}
	c := chart{W: chartW, H: chartH}
	max := maxOf(vals)
	c.Max = fmt.Sprintf("%.1f/s", max)
	c.Span = span(h)
	for k, p := range pick {
		c.Series = append(c.Series, series{Name: p.name, Class: p.class, Points: points(vals[k], max, chartW, chartH), Last: last(vals[k], "%.1f")})
	}
	return c
}

// queueChart charts the waiting count of one queue over the readings.
func queueChart(h []sample, queue string) chart {
	var vals []float64
	for _, s := range h {
		vals = append(vals, float64(s.stats.Queues[queue].Waiting))
	}
	max := maxOf([][]float64{vals})
	return chart{W: sparkW, H: sparkH, Max: fmt.Sprintf("%.0f", max), Span: span(h),
		Series: []series{{Name: "waiting", Class: "wait", Points: points(vals, max, sparkW, sparkH), Last: last(vals, "%.0f")}}}
}

func maxOf(vals [][]float64) float64 {
	m := 1.0
	for _, vs := range vals {
		for _, v := range vs {
			m = max(m, v)
		}
	}
	return m
}

// points places vals evenly across w, scaled so that top reaches the top of h.
func points(vals []float64, top float64, w, h int) string {
	var b strings.Builder
	for i, v := range vals {
		x := float64(w)
		if len(vals) > 1 {
			x = float64(i) * float64(w) / float64(len(vals)-1)
		}
		y := float64(h) - v/top*float64(h-2) - 1
		fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
	}
	return strings.TrimSpace(b.String())
}

func last(vals []float64, format string) string {
	if len(vals) == 0 {
		return "–"
	}
	return fmt.Sprintf(format, vals[len(vals)-1])
}

func span(h []sample) string {
	if len(h) < 2 {
		return "collecting samples"
	}
	return "last " + h[len(h)-1].at.Sub(h[0].at).Round(time.Second).String()
}
