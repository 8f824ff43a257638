package conformance

import (
	"errors"
	"time"

	"github.com/keyq/keyq/backend"
)

func init() {
	register(
		test{name: "S8.3 driver: Close wakes notifiers, fails every later call with ErrClosed, and leaves no goroutine", fn: testDriverClose, driver: true, serial: true},
	)
}

// testDriverClose closes a backend that holds tasks, a lease and a listening
// Notifier: the listener is told to look again, every method of a handle taken
// before fails with ErrClosed, so does Namespace, a second Close returns nil, and
// no goroutine of the driver is left.
func testDriverClose(e *env) {
	h := e.handle()
	l, _ := e.stock(h)
	w := newWakes()
	stop := func() {}
	if n, ok := h.(backend.Notifier); ok {
		var err error
		if stop, err = n.Notify(e.ctx, w.f); err != nil {
			e.Fatalf("Notify: %v", err)
		}
	}
	if err := e.tg.Backend.Close(); err != nil {
		e.Fatalf("Close: %v", err)
	}
	if _, ok := h.(backend.Notifier); ok {
		e.await(w, "a listener when the backend closed", func(ws []backend.Wake) bool {
			for _, wk := range ws {
				if wk.Queue == "" {
					return true
				}
			}
			return false
		})
	}
	stop()
	for _, c := range validCalls(h, ref(l)) {
		if err := protect(func() error { return c.fn(e.ctx) }); !errors.Is(err, backend.ErrClosed) {
			e.Errorf("%s after Close: %v, want ErrClosed", c.name, err)
		}
	}
	if _, err := e.tg.Backend.Namespace("other"); !errors.Is(err, backend.ErrClosed) {
		e.Errorf("Namespace after Close: %v, want ErrClosed", err)
	}
	if err := e.tg.Backend.Close(); err != nil {
		e.Fatalf("second Close: %v, want nil", err)
	}
	deadline := time.Now().Add(patience)
	for n := driverGoroutines(e.tg.Backend); n > 0; n = driverGoroutines(e.tg.Backend) {
		if time.Now().After(deadline) {
			e.Fatalf("%d goroutines of the driver still run %v after Close", n, patience)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}
