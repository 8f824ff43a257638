package keyqotel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	keyqotel "github.com/keyq/keyq/contrib/otel"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/keyq/keyq/memory"
	"github.com/keyq/keyq/redisbackend"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// waitFor bounds every wait of these tests.
const waitFor = 20 * time.Second

// stores are the backends the tests run on. Each open gives the producer and the
// worker stores of their own, as two processes would have: for Redis, two
// connections to one server.
var stores = []struct {
	name string
	open func(t *testing.T) (producer, worker backend.Backend)
}{
	{"memory", func(t *testing.T) (backend.Backend, backend.Backend) {
		b := memory.New()
		t.Cleanup(func() { _ = b.Close() })
		return b, b
	}},
	{"miniredis", func(t *testing.T) (backend.Backend, backend.Backend) {
		url := "redis://" + miniredis.RunT(t).Addr()
		return openRedis(t, url), openRedis(t, url)
	}},
	{"redis", func(t *testing.T) (backend.Backend, backend.Backend) {
		url := redistest.URL(t) // skips without redis-server, fails under CI
		return openRedis(t, url), openRedis(t, url)
	}},
}

func openRedis(t *testing.T, url string) backend.Backend {
	t.Helper()
	b, err := redisbackend.OpenURL(context.Background(), url, redisbackend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// side is one process's telemetry: its own tracer provider, recorder and meter.
type side struct {
	tp     *sdktrace.TracerProvider
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	inst   *keyqotel.Instrumentation
	ended  chan struct{} // gets a value as each span ends
}

func newSide(t *testing.T) side {
	t.Helper()
	s := side{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader(), ended: make(chan struct{}, 1)}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans),
		sdktrace.WithSpanProcessor(endings(s.ended)))
	s.tp = tp
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	inst, err := keyqotel.New(keyqotel.WithTracerProvider(tp), keyqotel.WithMeterProvider(mp),
		keyqotel.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		t.Fatal(err)
	}
	s.inst = inst
	return s
}

// TestTrace enqueues a known workload under a producer's span, through a client
// with the enqueue hook, and runs it on a worker of another client with telemetry
// of its own, so that only the task headers can link the two. Each process span
// must be a child of its task's create span, itself a child of the producer's
// span, with the attributes and outcome of its delivery; the metrics must count
// the workload.
func TestTrace(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			bp, bw := st.open(t)
			prod, work := newSide(t), newSide(t)
			ns := "otel:{" + t.Name() + "}"
			producer, err := keyq.New(bp, ns, prod.inst.EnqueueHook())
			if err != nil {
				t.Fatal(err)
			}
			consumer, err := keyq.New(bw, ns)
			if err != nil {
				t.Fatal(err)
			}

			pctx, root := prod.tp.Tracer("shop").Start(ctx, "checkout")
			var ids []string
			for _, e := range []struct {
				payload string
				opts    []keyq.EnqueueOption
			}{
				{"ok1", []keyq.EnqueueOption{keyq.Type("email")}},
				{"bad", []keyq.EnqueueOption{keyq.Type("email")}},
				{"flaky", []keyq.EnqueueOption{keyq.Type("sms"), keyq.MaxAttempts(2)}},
				{"fax", []keyq.EnqueueOption{keyq.Type("fax")}},
			} {
				id, err := producer.Enqueue(pctx, "default", []byte(e.payload), e.opts...)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			batch, err := producer.EnqueueBatch(pctx, "default", []keyq.Message{{Payload: []byte("ok2"), Type: "email"}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, batch...)
			root.End()

			w, err := work.inst.NewWorker(consumer, keyq.WorkerConfig{Backoff: keyq.ImmediateBackoff})
			if err != nil {
				t.Fatal(err)
			}
			handler := func(ctx context.Context, task *keyq.Task) (any, error) {
				if !trace.SpanContextFromContext(ctx).IsValid() {
					return nil, keyq.Final(errors.New("the handler's context has no span"))
				}
				switch string(task.Payload) {
				case "bad":
					return nil, keyq.Final(errors.New("no such address"))
				case "flaky":
					return nil, errors.New("gateway down")
				}
				return "sent", nil
			}
			w.HandleFunc("email", handler)
			w.HandleFunc("sms", handler)
			errc := make(chan error, 1)
			go func() { errc <- w.Run(context.Background()) }()
			process := waitSpans(t, work, 6)
			sctx, cancel := context.WithTimeout(ctx, waitFor)
			defer cancel()
			if err := w.Shutdown(sctx); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}

			// The producer side: the root and one create span per task, in order.
			ps := prod.spans.Ended()
			if len(ps) != 6 || ps[5].Name() != "checkout" {
				t.Fatalf("producer spans: %v, want 5 create spans and checkout", names(ps))
			}
			rootSC := ps[5].SpanContext()
			create := make(map[string]sdktrace.ReadOnlySpan) // by task ID
			for i, s := range ps[:5] {
				if s.Name() != "create default" || s.SpanKind() != trace.SpanKindProducer {
					t.Errorf("producer span %d: %s of kind %v, want create default of kind producer", i, s.Name(), s.SpanKind())
				}
				if s.Parent().SpanID() != rootSC.SpanID() {
					t.Errorf("create span %d is not a child of the producer's span", i)
				}
				checkAttrs(t, s, map[attribute.Key]attribute.Value{
					"messaging.system": attribute.StringValue("keyq"), "messaging.operation.type": attribute.StringValue("create"),
					"messaging.destination.name": attribute.StringValue("default"), "keyq.namespace": attribute.StringValue(ns),
				})
				create[ids[i]] = s
			}

			// The worker side: one process span per delivery, each a child, across
			// the store, of its task's create span.
			type delivery struct {
				payload string
				typ     string
				attempt int
				outcome string
			}
			want := map[string][]delivery{ // by task ID
				ids[0]: {{"ok1", "email", 0, "finished"}},
				ids[1]: {{"bad", "email", 0, "failed"}},
				ids[2]: {{"flaky", "sms", 0, "retried"}, {"flaky", "sms", 1, "dead"}},
				ids[3]: {{"fax", "fax", 0, "dead"}},
				ids[4]: {{"ok2", "email", 0, "finished"}},
			}
			for _, s := range process {
				id := attr(s, "messaging.message.id").AsString()
				c, ok := create[id]
				if !ok {
					t.Errorf("process span of unknown task %q", id)
					continue
				}
				if s.Name() != "process default" || s.SpanKind() != trace.SpanKindConsumer {
					t.Errorf("task %s: span %s of kind %v, want process default of kind consumer", id, s.Name(), s.SpanKind())
				}
				if p := s.Parent(); !p.IsRemote() || p.TraceID() != rootSC.TraceID() || p.SpanID() != c.SpanContext().SpanID() {
					t.Errorf("task %s: process span's parent is %v, want its create span %v, remote", id, p, c.SpanContext())
				}
				attempt := int(attr(s, "keyq.task.attempt").AsInt64())
				ds := want[id]
				if attempt >= len(ds) {
					t.Errorf("task %s: unexpected attempt %d", id, attempt)
					continue
				}
				d := ds[attempt]
				checkAttrs(t, s, map[attribute.Key]attribute.Value{
					"messaging.system": attribute.StringValue("keyq"), "messaging.operation.type": attribute.StringValue("process"),
					"messaging.destination.name": attribute.StringValue("default"), "keyq.namespace": attribute.StringValue(ns),
					"keyq.task.type": attribute.StringValue(d.typ), "keyq.outcome": attribute.StringValue(d.outcome),
				})
				ds[attempt].payload = "" // seen
			}
			for id, ds := range want {
				for _, d := range ds {
					if d.payload != "" {
						t.Errorf("no process span for task %s (%s) attempt %d", id, d.payload, d.attempt)
					}
				}
			}

			// The metrics of both sides.
			if got := sumInt(t, prod.reader, "messaging.client.sent.messages", nil); got != 5 {
				t.Errorf("messaging.client.sent.messages = %d, want 5", got)
			}
			for outcome, n := range map[string]int64{"finished": 2, "failed": 1, "retried": 1, "dead": 2} {
				if got := sumInt(t, work.reader, "keyq.worker.tasks", map[attribute.Key]string{"keyq.outcome": outcome}); got != n {
					t.Errorf("keyq.worker.tasks{outcome=%s} = %d, want %d", outcome, got, n)
				}
			}
			for typ, n := range map[string]uint64{"email": 3, "sms": 2} {
				if got := histCount(t, work.reader, "messaging.process.duration", map[attribute.Key]string{"keyq.task.type": typ}); got != n {
					t.Errorf("messaging.process.duration{type=%s} has %d values, want %d", typ, got, n)
				}
			}
		})
	}
}

// endings is a span processor that signals each span that ends. A full channel
// already holds a signal that waitSpans has yet to see, so none is lost.
type endings chan struct{}

func (e endings) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (e endings) Shutdown(context.Context) error                  { return nil }
func (e endings) ForceFlush(context.Context) error                { return nil }
func (e endings) OnEnd(sdktrace.ReadOnlySpan) {
	select {
	case e <- struct{}{}:
	default:
	}
}

// waitSpans waits until n spans of s have ended and returns them.
func waitSpans(t *testing.T, s side, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	timeout := time.After(waitFor)
	for ss := s.spans.Ended(); len(ss) < n; ss = s.spans.Ended() {
		select {
		case <-s.ended:
		case <-timeout:
			t.Fatalf("%d of %d process spans ended within %v: %v", len(ss), n, waitFor, names(ss))
		}
	}
	return s.spans.Ended()
}

func names(ss []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name())
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) attribute.Value {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value
		}
	}
	return attribute.Value{}
}

func checkAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want map[attribute.Key]attribute.Value) {
	t.Helper()
	for k, v := range want {
		if got := attr(s, k); got != v {
			t.Errorf("span %s: %s = %v, want %v", s.Name(), k, got.String(), v.String())
		}
	}
}

// collect returns the data of the metric name.
func collect(t *testing.T, r *sdkmetric.ManualReader, name string) metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m.Data
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

func matches(set attribute.Set, match map[attribute.Key]string) bool {
	for k, v := range match {
		if got, ok := set.Value(k); !ok || got.AsString() != v {
			return false
		}
	}
	return true
}

func sumInt(t *testing.T, r *sdkmetric.ManualReader, name string, match map[attribute.Key]string) int64 {
	t.Helper()
	sum, ok := collect(t, r, name).(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is not an int64 sum", name)
	}
	var n int64
	for _, dp := range sum.DataPoints {
		if matches(dp.Attributes, match) {
			n += dp.Value
		}
	}
	return n
}

func histCount(t *testing.T, r *sdkmetric.ManualReader, name string, match map[attribute.Key]string) uint64 {
	t.Helper()
	h, ok := collect(t, r, name).(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is not a float64 histogram", name)
	}
	var n uint64
	for _, dp := range h.DataPoints {
		if matches(dp.Attributes, match) {
			n += dp.Count
		}
	}
	return n
}
