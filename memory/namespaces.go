package memory

import (
	"context"
	"slices"
	"time"

	"github.com/keyq/keyq/backend"
)

// Namespaces returns the namespaces that hold anything, sorted; see
// backend.NamespaceLister.
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	if err := backend.Check(ctx, nil); err != nil {
		return nil, err
	}
	if b.closed.Load() {
		return nil, backend.ErrClosed
	}
	var names []string
	for _, ns := range b.all() {
		ns.mu.Lock()
		if !ns.empty(b.clock.Now()) {
			names = append(names, ns.name)
		}
		ns.mu.Unlock()
	}
	slices.Sort(names)
	return names, nil
}

// empty reports whether the namespace holds nothing: it was only read, never
// written. The caller holds ns.mu; answers, job records and limiter state past
// their time count as gone, whether or not housekeeping dropped them yet.
func (ns *Namespace) empty(now time.Time) bool {
	if ns.seq != 0 || ns.counters != (backend.Counters{}) || len(ns.queues) > 0 || ns.dead.Len() > 0 {
		return false
	}
	for _, a := range ns.answers {
		if a.at.After(now) {
			return false
		}
	}
	for _, j := range ns.jobs {
		if j.index < 0 || j.at.After(now) {
			return false
		}
	}
	for _, tat := range ns.limits {
		if tat.After(now) {
			return false
		}
	}
	return true
}
