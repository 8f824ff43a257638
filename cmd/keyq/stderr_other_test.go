//go:build !linux

package main

import "testing"

// captureStderr runs fn; off Linux it does not capture file descriptor 2.
func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	fn()
	return ""
}
