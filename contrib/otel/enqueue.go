package keyqotel

import (
	"context"

	"github.com/keyq/keyq"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// EnqueueHook returns a client option that gives every task the client enqueues
// a "create" span, a child of the span in the enqueue's context, writes that
// span's context into the task's headers through the propagator, and counts the
// task in messaging.client.sent.messages.
func (i *Instrumentation) EnqueueHook() keyq.Option {
	return keyq.OnEnqueue(func(ctx context.Context, namespace, queue string, m *keyq.Message) {
		attrs := []attributeKV{
			System,
			semconv.MessagingDestinationName(queue),
			NamespaceKey.String(namespace),
			TypeKey.String(m.Type),
		}
		_, span := i.tracer.Start(ctx, "create "+queue, trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(attrs...),
			trace.WithAttributes(semconv.MessagingOperationTypeCreate, semconv.MessagingOperationName("create")))
		i.propagator.Inject(trace.ContextWithSpan(ctx, span), propagation.MapCarrier(m.Headers))
		span.End()
		i.sent.Add(ctx, 1, metric.WithAttributes(attrs...))
	})
}
