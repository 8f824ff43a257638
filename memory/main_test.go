package memory_test

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// TestMain runs up to four parallel tests per CPU unless -parallel says otherwise:
// the conformance suite on real time spends most of their time sleeping
// through real leases, delays and TTLs, so running only GOMAXPROCS of them at once
// leaves the CPUs idle. The tests bound their waits generously and keep their
// real-time margins as a multiple of what they measure, so more of them at once
// slows each down without failing it.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(4*runtime.GOMAXPROCS(0)))
	}
	os.Exit(m.Run())
}
