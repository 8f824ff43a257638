//go:build !unix

package memory_test

import "time"

// cpuTime reports false: the process's CPU time is read only on Unix.
func cpuTime() (time.Duration, bool) { return 0, false }
