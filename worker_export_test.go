package keyq

// StopRequested is closed once Shutdown has been called; for tests only.
func (w *Worker) StopRequested() <-chan struct{} { return w.stop }
