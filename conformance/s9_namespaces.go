package conformance

import (
	"slices"

	"github.com/keyq/keyq/backend"
)

func init() {
	register(test{name: "S9.4 the store lists the namespaces written to, not those only read", fn: testNamespaces})
}

// testNamespaces writes to one namespace and only reads another, then checks the
// listing of a driver that offers it. Other tests may share the store, so it looks
// only for its own two names.
func testNamespaces(e *env) {
	nl, ok := e.tg.Backend.(backend.NamespaceLister)
	if !ok {
		e.Skip("optional: the driver does not implement backend.NamespaceLister")
	}
	written := e.client()
	e.enqueue(written, "q", "x")
	readOnly := e.clientOf(e.ns + " {read only}")
	e.stats(readOnly)
	if _, err := readOnly.Peek(e.ctx, "q", 0, 10); err != nil {
		e.Fatalf("Peek of a namespace never written: %v", err)
	}
	names, err := nl.Namespaces(e.ctx)
	if err != nil {
		e.Fatalf("Namespaces: %v", err)
	}
	if !slices.IsSorted(names) {
		e.Errorf("Namespaces are not sorted: %q", names)
	}
	if !slices.Contains(names, e.ns) {
		e.Errorf("Namespaces = %q; want it to hold %q, which has a queued task", names, e.ns)
	}
	if slices.Contains(names, e.ns+" {read only}") {
		e.Errorf("Namespaces lists %q, which was only read", e.ns+" {read only}")
	}
}
