package keyqotel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyq/keyq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

type attributeKV = attribute.KeyValue

// deliveryKey names one delivery: a task is delivered once per attempt, and a
// delivery handed back with its attempt kept is settled before it comes again.
type deliveryKey struct {
	id      string
	attempt int
}

// NewWorker returns a worker for c, as keyq.NewWorker does with opts, that traces
// and measures every delivery: it has OnDone among its options and Middleware as
// its outermost middleware.
func (i *Instrumentation) NewWorker(c *keyq.Client, opts ...keyq.WorkerOption) (*keyq.Worker, error) {
	if c == nil {
		return nil, fmt.Errorf("keyqotel: new worker: %w: nil client", keyq.ErrInvalid)
	}
	w, err := keyq.NewWorker(c, append(opts[:len(opts):len(opts)], i.OnDone(c.Namespace()))...)
	if err != nil {
		return nil, err
	}
	w.Use(i.Middleware(c.Namespace()))
	return w, nil
}

// Middleware returns worker middleware, for Worker.Use, that starts a "process"
// span for each delivery, a child of the trace context in the task's headers,
// and records the handler's duration in messaging.process.duration. Add it first,
// so that its span covers every other middleware. Give the same workers OnDone
// too: the span ends when OnDone sees the delivery settled; without it, the span
// ends when the handler returns and has no outcome.
func (i *Instrumentation) Middleware(namespace string) func(keyq.Handler) keyq.Handler {
	return func(next keyq.Handler) keyq.Handler {
		return keyq.HandlerFunc(func(ctx context.Context, t *keyq.Task) (v any, err error) {
			ctx, span := i.startProcess(ctx, namespace, t)
			key := deliveryKey{t.ID, t.Attempt}
			settles := i.settling(namespace)
			if settles {
				i.spans.Store(key, span)
			}
			start := time.Now()
			panicked := true
			defer func() {
				attrs := []attributeKV{System, semconv.MessagingDestinationName(t.Queue), NamespaceKey.String(namespace), TypeKey.String(t.Type)}
				switch {
				case panicked:
					span.SetStatus(codes.Error, "handler panicked")
					attrs = append(attrs, semconv.ErrorTypeKey.String("panic"))
				case err != nil:
					span.RecordError(err)
					span.SetStatus(codes.Error, err.Error())
					attrs = append(attrs, semconv.ErrorTypeKey.String(errorType(err)))
				}
				i.duration.Record(context.WithoutCancel(ctx), time.Since(start).Seconds(), metric.WithAttributes(attrs...))
				if !settles {
					span.End()
				}
			}()
			v, err = next.Handle(ctx, t)
			panicked = false
			return v, err
		})
	}
}

// OnDone returns a worker option that ends each delivery's process span with its
// outcome (keyq.outcome) once the worker has settled it, and counts the outcome in
// keyq.worker.tasks, for the workers of namespace. A delivery that never reached a
// handler (a task type without one) gets a process span of its own here. It adds
// its hook with keyq.WorkerAddOnDone, beside the application's own.
//
// Once OnDone was called for a namespace, Middleware leaves ending the spans of
// that namespace's deliveries to it: give every worker of the namespace that
// this Instrumentation serves both, as NewWorker does.
func (i *Instrumentation) OnDone(namespace string) keyq.WorkerOption {
	i.settles.Store(namespace, true)
	return keyq.WorkerAddOnDone(func(t *keyq.Task, o keyq.Outcome, err error) {
		ctx := context.Background()
		var span trace.Span
		if s, ok := i.spans.LoadAndDelete(deliveryKey{t.ID, t.Attempt}); ok {
			span = s.(trace.Span)
		} else {
			_, span = i.startProcess(ctx, namespace, t)
		}
		span.SetAttributes(OutcomeKey.String(string(o)))
		switch o {
		case keyq.OutcomeFinished, keyq.OutcomeReturned, keyq.OutcomeCancelled: // not the handler's failure
		default:
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
			} else {
				span.SetStatus(codes.Error, string(o))
			}
		}
		span.End()
		i.tasks.Add(ctx, 1, metric.WithAttributes(System, semconv.MessagingDestinationName(t.Queue),
			NamespaceKey.String(namespace), TypeKey.String(t.Type), OutcomeKey.String(string(o))))
	})
}

func (i *Instrumentation) settling(namespace string) bool {
	_, ok := i.settles.Load(namespace)
	return ok
}

// startProcess starts the process span of a delivery of t, a child of the trace
// context in its headers.
func (i *Instrumentation) startProcess(ctx context.Context, namespace string, t *keyq.Task) (context.Context, trace.Span) {
	parent := i.propagator.Extract(ctx, propagation.MapCarrier(t.Headers))
	return i.tracer.Start(parent, "process "+t.Queue, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(System, semconv.MessagingOperationTypeProcess, semconv.MessagingOperationName("process"),
			semconv.MessagingDestinationName(t.Queue), semconv.MessagingMessageID(t.ID),
			NamespaceKey.String(namespace), TypeKey.String(t.Type), AttemptKey.Int(t.Attempt)))
}

// errorType is the error.type of a handler's error: "final" for a final failure,
// "timeout" and "lease_lost" for those causes, else the error's Go type.
func errorType(err error) string {
	switch {
	case keyq.IsFinal(err):
		return "final"
	case errors.Is(err, keyq.ErrTaskTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, keyq.ErrLeaseLost):
		return "lease_lost"
	}
	return fmt.Sprintf("%T", err)
}
