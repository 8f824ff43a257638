package keyqotel_test

import (
	"context"
	"errors"
	"testing"

	"github.com/keyq/keyq"
	keyqotel "github.com/keyq/keyq/contrib/otel"
	"github.com/keyq/keyq/memory"
	"go.opentelemetry.io/otel/codes"
)

// TestMiddlewareAlone checks that a worker given Middleware without OnDone still
// ends every span, when its handler returns, and that a handler's panic marks its
// span as an error.
func TestMiddlewareAlone(t *testing.T) {
	b := memory.New()
	t.Cleanup(func() { _ = b.Close() })
	c, err := keyq.New(b, "alone")
	if err != nil {
		t.Fatal(err)
	}
	s := newSide(t)
	settled := make(chan keyq.Outcome, 4)
	w, err := keyq.NewWorker(c, keyq.WorkerConfig{Backoff: keyq.ImmediateBackoff},
		keyq.WorkerConfig{OnDone: func(_ *keyq.Task, o keyq.Outcome, _ error) { settled <- o }})
	if err != nil {
		t.Fatal(err)
	}
	w.Use(s.inst.Middleware(c.Namespace()))
	w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
		if string(task.Payload) == "boom" && task.Attempt == 0 {
			panic("boom")
		}
		return nil, nil
	})
	for _, p := range []string{"ok", "boom"} {
		if _, err := c.Enqueue(context.Background(), "default", []byte(p), keyq.MaxAttempts(2)); err != nil {
			t.Fatal(err)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- w.Run(context.Background()) }()
	spans := waitSpans(t, s, 3) // ok, boom twice
	for range 3 {
		select {
		case <-settled:
		case err := <-errc:
			t.Fatalf("Run returned early: %v", err)
		}
	}
	if err := w.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	var panicked int
	for _, sp := range spans {
		if got := attr(sp, "keyq.outcome"); got.AsString() != "" {
			t.Errorf("span without OnDone has outcome %q", got.AsString())
		}
		if sp.Status().Code == codes.Error && sp.Status().Description == "handler panicked" {
			panicked++
		}
	}
	if panicked != 1 {
		t.Errorf("%d spans marked as panicked, want 1", panicked)
	}
}

// TestNewInvalid checks that nil providers are refused with ErrInvalid.
func TestNewInvalid(t *testing.T) {
	for name, o := range map[string]keyqotel.Option{
		"tracer provider": keyqotel.WithTracerProvider(nil),
		"meter provider":  keyqotel.WithMeterProvider(nil),
		"propagator":      keyqotel.WithPropagator(nil),
	} {
		if _, err := keyqotel.New(o); !errors.Is(err, keyq.ErrInvalid) {
			t.Errorf("nil %s: %v, want ErrInvalid", name, err)
		}
	}
	i, err := keyqotel.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := i.NewWorker(nil); !errors.Is(err, keyq.ErrInvalid) {
		t.Errorf("NewWorker(nil): %v, want ErrInvalid", err)
	}
}
