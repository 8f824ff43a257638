package memory

import (
	"context"
	"slices"
	"time"

	"github.com/keyq/keyq/backend"
)

var _ backend.NamespaceLister = (*Backend)(nil)

// Namespaces returns the namespaces that hold anything, sorted; see
// backend.NamespaceLister.
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	b.mu.RLock()
	all := make([]*namespace, 0, len(b.namespaces))
	for _, ns := range b.namespaces {
		all = append(all, ns)
	}
	b.mu.RUnlock()
	var names []string
	for _, ns := range all {
		ns.mu.Lock()
		now := b.clock.Now()
		ns.housekeep(now) // expired answers and job records are gone, as on Redis
		if !ns.empty(now) {
			names = append(names, ns.name)
		}
		ns.mu.Unlock()
	}
	slices.Sort(names)
	return names, nil
}

// empty reports whether the namespace holds nothing: it was only read, never
// written. The caller holds ns.mu and has run housekeep.
func (ns *namespace) empty(now time.Time) bool {
	if ns.seq != 0 || ns.counters != (backend.Counters{}) || len(ns.queues) > 0 || ns.dead.Len() > 0 {
		return false
	}
	// Housekeeping drops a bounded number per call: look past any left over.
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
