package keyqotel

import (
	"fmt"
	"sync"

	"github.com/keyq/keyq"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of keyqotel's tracer and meter.
const ScopeName = "github.com/keyq/keyq/contrib/otel"

// Attribute keys of keyq's own span and metric attributes.
const (
	NamespaceKey = attribute.Key("keyq.namespace")
	TypeKey      = attribute.Key("keyq.task.type")
	AttemptKey   = attribute.Key("keyq.task.attempt")
	OutcomeKey   = attribute.Key("keyq.outcome")
)

// System is the messaging.system attribute of keyq's spans and metrics.
var System = semconv.MessagingSystemKey.String("keyq")

// Instrumentation makes spans and metrics for keyq clients and workers. One
// Instrumentation may serve many clients and workers, of one namespace or
// several. Methods are safe for concurrent use.
type Instrumentation struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator

	sent     metric.Int64Counter
	duration metric.Float64Histogram
	tasks    metric.Int64Counter

	spans   sync.Map // deliveryKey -> trace.Span, from Middleware to OnDone
	settles sync.Map // namespace -> true once an OnDone option was applied for it
}

// Option configures an Instrumentation.
type Option func(*config)

type config struct {
	tp         trace.TracerProvider
	mp         metric.MeterProvider
	propagator propagation.TextMapPropagator
}

// WithTracerProvider sets where spans go. The default is otel.GetTracerProvider().
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider sets where metrics go. The default is otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// WithPropagator sets how the trace context is written to and read from task
// headers. The default is otel.GetTextMapPropagator(), which carries nothing until
// the application sets one, for example propagation.TraceContext{} for W3C
// traceparent.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.propagator = p }
}

// New returns an Instrumentation. It fails with an error matching keyq.ErrInvalid
// when an option gives a nil provider or propagator, and with the meter's error
// when an instrument cannot be created.
func New(opts ...Option) (*Instrumentation, error) {
	c := config{tp: otel.GetTracerProvider(), mp: otel.GetMeterProvider(), propagator: otel.GetTextMapPropagator()}
	for _, o := range opts {
		o(&c)
	}
	if c.tp == nil || c.mp == nil || c.propagator == nil {
		return nil, fmt.Errorf("keyqotel: %w: nil tracer provider, meter provider or propagator", keyq.ErrInvalid)
	}
	meter := c.mp.Meter(ScopeName)
	i := &Instrumentation{tracer: c.tp.Tracer(ScopeName), propagator: c.propagator}
	var err error
	if i.sent, err = meter.Int64Counter("messaging.client.sent.messages", metric.WithUnit("{message}"),
		metric.WithDescription("Tasks a keyq client tried to enqueue.")); err != nil {
		return nil, fmt.Errorf("keyqotel: %w", err)
	}
	if i.duration, err = meter.Float64Histogram("messaging.process.duration", metric.WithUnit("s"),
		metric.WithDescription("How long keyq handlers ran, per delivery."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)); err != nil {
		return nil, fmt.Errorf("keyqotel: %w", err)
	}
	if i.tasks, err = meter.Int64Counter("keyq.worker.tasks", metric.WithUnit("{task}"),
		metric.WithDescription("Deliveries keyq workers settled, by outcome.")); err != nil {
		return nil, fmt.Errorf("keyqotel: %w", err)
	}
	return i, nil
}
