package keyq

// WorkerAddOnDone adds f to the hooks called once per delivery the worker has
// finished with, as WorkerConfig.OnDone describes, after those set before it.
// Optional instrumentation (metrics, traces) adds its hook this way, so that it
// neither replaces the application's hook nor is replaced by one given later
// with WorkerAddOnDone; a WorkerConfig with OnDone given after it does replace
// every hook set before. A nil f adds nothing.
func WorkerAddOnDone(f func(t *Task, o Outcome, err error)) WorkerOption {
	return workerOption(func(c *workerConfig) {
		prev := c.onDone
		switch {
		case f == nil:
		case prev == nil:
			c.onDone = f
		default:
			c.onDone = func(t *Task, o Outcome, err error) {
				prev(t, o, err)
				f(t, o, err)
			}
		}
	})
}
