package redisbackend_test

import (
	goflag "flag"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// TestMain runs up to four parallel tests per CPU unless -parallel says otherwise:
// the conformance suites on a real server spend most of their time sleeping
// through real leases, delays and TTLs, so running only GOMAXPROCS of them at once
// leaves the CPUs idle. The tests bound their waits generously and keep their
// real-time margins as a multiple of what they measure, so more of them at once
// slows each down without failing it.
func TestMain(m *testing.M) {
	goflag.Parse()
	set := false
	goflag.Visit(func(f *goflag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = goflag.Set("test.parallel", strconv.Itoa(4*runtime.GOMAXPROCS(0)))
	}
	os.Exit(m.Run())
}
