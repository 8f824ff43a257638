package keyq

import "math/rand/v2"

// StopRequested is closed once Shutdown has been called; for tests only.
func (w *Worker) StopRequested() <-chan struct{} { return w.stop }

// QueuedAcks counts the acks that wait for a batch; for tests only.
func (w *Worker) QueuedAcks() int {
	if w.settler == nil {
		return 0
	}
	return len(w.settler.reqs)
}

// AckEnd is closed once Run, stopping, waits for the acks still in flight; for
// tests only.
func (w *Worker) AckEnd() <-chan struct{} { return w.ackEnd }

// WorkerRand makes the worker draw the order of weighted queues from r; for
// tests only.
func WorkerRand(r *rand.Rand) WorkerOption {
	return workerOption(func(c *workerConfig) { c.intN = r.IntN })
}
