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
