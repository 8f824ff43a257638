package memory

// Listening returns how many Notify registrations the backend's namespaces hold.
func (b *Backend) Listening() int {
	n := 0
	for _, ns := range b.all() {
		ns.mu.Lock()
		n += len(ns.listeners)
		ns.mu.Unlock()
	}
	return n
}

// CancelledLeases returns how many ended leases the namespace keeps for Extend
// to report cancelled.
func (ns *Namespace) CancelledLeases() int {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return len(ns.cancelled)
}
