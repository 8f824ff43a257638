package backend

import "context"

// NamespaceLister is implemented by drivers that can list the namespaces they hold.
// Tools (the keyq command) use it; the keyq package does not need it.
type NamespaceLister interface {
	// Namespaces returns, sorted, the name of every namespace that holds anything:
	// a queue it has seen, a counter, an answer, a job record, a dead task or rate
	// limiter state. A namespace that calls have only read (Stats, Peek and the like
	// on a name never written) is not listed. The listing reads the whole store and
	// is meant for people and tools, not for a hot path; namespaces written while it
	// runs may or may not be listed.
	Namespaces(ctx context.Context) ([]string, error)
}
