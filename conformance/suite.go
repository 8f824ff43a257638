package conformance

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
)

// test is one conformance test. Its name starts with the rule it checks.
type test struct {
	name   string
	fn     func(e *env)
	serial bool // runs alone, before the parallel tests
	// driver puts the test in the driver tier: it calls the backend.Namespace
	// handle directly, without package keyq. Its name says "driver:" after the
	// rule's number.
	driver bool
}

// tests lists every conformance test; each rule file adds its own.
var tests []test

func register(ts ...test) { tests = append(tests, ts...) }

// Run runs every conformance test, both tiers, against targets made by h, each as
// a parallel subtest named after its rule, with a fresh target and namespace: the
// driver tier calls the driver's Namespace handles directly (its tests' names say
// "driver:" after the rule's number, so -run 'TestX/driver' selects them), the
// client tier goes through keyq.Client as an application does.
func Run(t *testing.T, h Harness) {
	t.Helper()
	run(t, h, func(test) bool { return true })
}

// RunDriver runs the driver tier alone: the tests that call the driver's
// Namespace handles directly, with bad input among them (S1.5, S8.4). A new
// driver passes it before it runs Run, which runs both tiers.
func RunDriver(t *testing.T, h Harness) {
	t.Helper()
	run(t, h, func(tc test) bool { return tc.driver })
}

func run(t *testing.T, h Harness, keep func(test) bool) {
	t.Helper()
	for _, tc := range slices.SortedFunc(slices.Values(tests), func(a, b test) int { return ruleCompare(a.name, b.name) }) {
		if !keep(tc) {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if !tc.serial {
				t.Parallel() // paused until the serial tests are done
			}
			scale := 1.0
			for attempt := 1; ; attempt++ {
				late := newEnv(t, h, scale).attempt(tc.fn)
				if late == nil {
					return
				}
				if attempt == maxAttempts {
					t.Fatalf("%s; the machine was too slow for the test's real-time margin in %d attempts, the last with a time unit of %v", late, attempt, late.unit)
				}
				t.Logf("%s: the machine was slower than the test's time unit of %v; again with twice the unit", late, late.unit)
				scale *= 2
			}
		})
	}
}

// maxAttempts bounds how often a test runs again, each time with twice the time
// unit, after the machine did not keep one of its real-time margins.
const maxAttempts = 4

// Bounds of the waits in the suite. They only catch a hang, so they are long: a
// test never fails because a loaded machine was slow, only because something that
// must happen did not happen at all. A consumer that waits for a task waits
// longWait, twice patience, so that a lost wake-up shows as a consumer still
// waiting after patience, not as one whose wait ran out.
// The suite's clients get opTimeout instead of keyq's default of 5s, which a call
// to miniredis under the race detector on a loaded machine can take; a test's
// attempt has testTimeout in all.
const (
	patience    = 30 * time.Second
	longWait    = 2 * patience
	opTimeout   = 2 * time.Minute
	testTimeout = 5 * time.Minute
)

// late is a real-time margin the machine did not keep: a step that had to be done
// within margin of a mark took longer. It aborts one attempt of a test (by panic,
// recovered by attempt) so that Run can try again with a longer time unit.
type late struct {
	what         string
	took, margin time.Duration
	unit         time.Duration
}

func (l *late) String() string {
	return fmt.Sprintf("%s took %v, past its margin of %v", l.what, l.took.Round(time.Millisecond), l.margin)
}

// attempt runs fn and returns the margin it found not kept, or nil when fn ran to
// its end (passed or failed).
func (e *env) attempt(fn func(*env)) (missed *late) {
	defer func() {
		if r := recover(); r != nil {
			l, ok := r.(*late)
			if !ok {
				panic(r)
			}
			missed = l
		}
	}()
	fn(e)
	return nil
}

// mark reads the backend's clock before a step that starts a real-time margin,
// such as storing an answer with a TTL or taking a lease. For a fake clock it is
// the exact time; for Redis a TIME call, read no later than the step that follows.
func (e *env) mark() time.Time { return e.tg.Now() }

// between reads the backend's clock around f and returns its readings just before
// and just after.
func (e *env) between(f func()) (before, after time.Time) {
	before = e.tg.Now()
	f()
	return before, e.tg.Now()
}

// margin is what the checks inside within rely on: that the steps since mark take
// less than n units.
type margin struct {
	mark time.Time
	n    float64
	what string
}

// within runs checks that rely on a real-time margin: that the steps since mark,
// taken before the step that started the margin (the answer stored, the lease
// taken), take less than n units on the backend's clock. When one of the checks
// fails and they took that long or longer, the failure says nothing about the
// backend: the test is run again from the start with twice the time unit. On a
// fake clock, which moves only by Advance, a failed check always fails the test.
//
// Only the test's own goroutine may call it, with no goroutine of the test still
// running.
func (e *env) within(mark time.Time, n float64, what string, checks func()) {
	e.Helper()
	saved := e.margin
	e.margin = &margin{mark, n, what}
	defer func() { e.margin = saved }()
	checks()
}

// Fatalf fails the test, unless a check inside within failed because the machine
// did not keep the margin (see within).
func (e *env) Fatalf(format string, args ...any) {
	e.Helper()
	e.skipIfUnsupported(args)
	e.retryIfLate()
	e.T.Fatalf(format, args...)
}

// Fatal is Fatalf with the formatting of Print.
func (e *env) Fatal(args ...any) {
	e.Helper()
	e.skipIfUnsupported(args)
	e.retryIfLate()
	e.T.Fatal(args...)
}

// skipIfUnsupported skips the test when what failed is a call that needs an
// optional interface the driver does not implement: its error matches
// errors.ErrUnsupported (S9.5). The skip names the capability, so that a driver
// without inspection or admin runs the rest of the suite and sees what it left
// out; a driver with them never skips here.
func (e *env) skipIfUnsupported(args []any) {
	e.Helper()
	for _, a := range args {
		if err, ok := a.(error); ok && errors.Is(err, errors.ErrUnsupported) {
			e.Skipf("optional: this test needs a capability the driver lacks: %v", err)
		}
	}
}

// retryIfLate abandons the attempt when a margin is being relied on and the steps
// since its mark took too long.
func (e *env) retryIfLate() {
	m := e.margin
	if m == nil {
		return
	}
	e.margin = nil
	if took := e.tg.Now().Sub(m.mark); took >= e.u(m.n) {
		panic(&late{what: m.what, took: took, margin: e.u(m.n), unit: e.unit})
	}
	e.margin = m
}

// ruleCompare orders names like "S2.10 x" after "S2.9 y".
func ruleCompare(a, b string) int {
	var a1, a2, b1, b2 int
	fmt.Sscanf(a, "S%d.%d", &a1, &a2)
	fmt.Sscanf(b, "S%d.%d", &b1, &b2)
	if a1 != b1 {
		return a1 - b1
	}
	if a2 != b2 {
		return a2 - b2
	}
	return strings.Compare(a, b)
}

// env is what a test works with: the target, a fresh namespace, and helpers.
type env struct {
	*testing.T
	tg     Target
	ns     string
	unit   time.Duration
	ctx    context.Context
	margin *margin // set inside within
}

// newEnv makes a fresh target with a fresh namespace; scale multiplies the
// target's time unit.
func newEnv(t *testing.T, h Harness, scale float64) *env {
	tg := h.NewTarget(t)
	if tg.Backend == nil || tg.Now == nil || tg.Advance == nil {
		t.Fatal("conformance: the harness returned a Target without Backend, Now or Advance")
	}
	t.Cleanup(func() {
		if err := tg.Backend.Close(); err != nil {
			t.Errorf("closing the backend: %v", err)
		}
	})
	unit := tg.Unit
	if unit == 0 {
		unit = time.Second
	}
	unit = time.Duration(float64(unit) * scale)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return &env{T: t, tg: tg, ns: fmt.Sprintf("conf-%s-%08x", strings.Fields(t.Name()[strings.LastIndex(t.Name(), "/")+1:])[0], rand.Uint32()), unit: unit, ctx: ctx}
}

// u returns n time units.
func (e *env) u(n float64) time.Duration { return time.Duration(n * float64(e.unit)) }

// advance moves the backend's clock forward by n units.
func (e *env) advance(n float64) { e.tg.Advance(e.u(n)) }

// wantErr checks that err matches target with errors.Is.
func (e *env) wantErr(what string, err, target error) {
	e.Helper()
	if !errors.Is(err, target) {
		e.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// waitFor runs f in a goroutine and returns a channel with its result.
func waitFor[T any](f func() T) <-chan T {
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	return ch
}

// receive waits for a result, failing the test after patience.
func receive[T any](e *env, ch <-chan T, what string) T {
	e.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(patience):
		e.Fatalf("%s: still waiting after %v", what, patience)
		panic("unreachable")
	}
}

// settle returns once a consumer is blocked waiting in the backend, when the target
// can tell; otherwise it gives the consumer a head start to get there. The tests that
// use it pass either way: it only makes them exercise the wake-up path.
func (e *env) settle(n int) {
	e.Helper()
	if e.tg.Waiting == nil {
		time.Sleep(50 * time.Millisecond) // no way to observe the waiter: a head start
		return
	}
	deadline := time.Now().Add(patience)
	for i := 0; e.tg.Waiting() < n; i++ {
		if time.Now().After(deadline) {
			e.Fatalf("no consumer started waiting within %v (want %d waiting, have %d)", patience, n, e.tg.Waiting())
		}
		if i%10 == 9 {
			// Inside within, a consumer that starts too late may find the task it
			// was to wait for and never wait.
			e.retryIfLate()
		}
		time.Sleep(time.Millisecond) // poll interval
	}
}

// driverGoroutines counts goroutines running code of the backend's package.
func driverGoroutines(b backend.Backend) int {
	pkg := reflect.TypeOf(b)
	for pkg.Kind() == reflect.Pointer {
		pkg = pkg.Elem()
	}
	path := pkg.PkgPath()
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		// The suite's own goroutines and the one running the tests (which a
		// driver's TestMain puts in the driver's package) do not count.
		if strings.Contains(g, path+".") && !strings.Contains(g, "conformance.") && !strings.Contains(g, "testing.(*M).Run") {
			count++
		}
	}
	return count
}
