package keyqotel_test

import (
	"context"
	"fmt"

	"github.com/keyq/keyq"
	keyqotel "github.com/keyq/keyq/contrib/otel"
	"github.com/keyq/keyq/memory"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A producer's client gets the enqueue hook and a worker is made through the
// Instrumentation: the handler's span is a child of the task's create span, which
// is a child of the span the producer enqueued under. A real service would pass
// its own tracer and meter providers, or set the global ones.
func Example() {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	inst, err := keyqotel.New(keyqotel.WithTracerProvider(tp), keyqotel.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		panic(err)
	}

	b := memory.New()
	defer b.Close()
	producer, _ := keyq.New(b, "shop", inst.EnqueueHook())
	consumer, _ := keyq.New(b, "shop") // in another process, as a rule

	ctx, checkout := tp.Tracer("shop").Start(ctx, "checkout")
	_, _ = producer.Enqueue(ctx, "default", []byte("order-1"), keyq.Type("email"))
	checkout.End()

	done := make(chan struct{})
	w, _ := inst.NewWorker(consumer, keyq.WorkerConfig{OnDone: func(*keyq.Task, keyq.Outcome, error) { close(done) }})
	w.HandleFunc("email", func(ctx context.Context, t *keyq.Task) (any, error) {
		fmt.Println("traceparent sent:", t.Headers["traceparent"] != "")
		return "sent", nil
	})
	go func() { _ = w.Run(context.Background()) }()
	<-done
	_ = w.Shutdown(context.Background())

	byID := make(map[string]string)
	for _, s := range spans.Ended() {
		byID[s.SpanContext().SpanID().String()] = s.Name()
	}
	for _, s := range spans.Ended() {
		if p := s.Parent(); p.IsValid() {
			fmt.Printf("%s is a child of %s\n", s.Name(), byID[p.SpanID().String()])
		}
	}
	// Output:
	// traceparent sent: true
	// create default is a child of checkout
	// process default is a child of create default
}
