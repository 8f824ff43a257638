package clock

import (
	"context"
	"sync"
	"time"
)

// Fake is a Clock that moves only when told to. Its timers fire inside Advance and
// Set. The zero value is not usable; call NewFake.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced whenever the set of timers changes
}

// NewFake returns a fake clock that reads t.
func NewFake(t time.Time) *Fake {
	return &Fake{now: t, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d and fires every timer that is then due. A
// negative d does nothing: the clock never goes back.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	if d > 0 {
		f.setLocked(f.now.Add(d))
	}
	f.mu.Unlock()
}

// Set moves the clock to t, which must not be before the current time, and fires
// every timer that is then due.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	if t.After(f.now) {
		f.setLocked(t)
	}
	f.mu.Unlock()
}

func (f *Fake) setLocked(t time.Time) {
	f.now = t
	kept := f.timers[:0]
	for _, tm := range f.timers {
		if tm.when.After(t) {
			kept = append(kept, tm)
			continue
		}
		tm.c <- t // buffered, fires once
	}
	clear(f.timers[len(kept):])
	f.timers = kept
	f.notifyLocked()
}

// NewTimer returns a timer that fires when the clock reaches now + d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.timerAtLocked(f.now.Add(d))
}

// TimerAt returns a timer that fires when the clock reaches t, at once if it has.
func (f *Fake) TimerAt(t time.Time) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.timerAtLocked(t)
}

func (f *Fake) timerAtLocked(when time.Time) *fakeTimer {
	tm := &fakeTimer{f: f, when: when, c: make(chan time.Time, 1)}
	if !when.After(f.now) {
		tm.c <- f.now
		return tm
	}
	f.timers = append(f.timers, tm)
	f.notifyLocked()
	return tm
}

// Timers returns how many timers are waiting to fire.
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// WaitTimers blocks until at least n timers wait to fire, or ctx is done. Tests use it
// to know that a goroutine has started waiting before they advance the clock.
func (f *Fake) WaitTimers(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		have, changed := len(f.timers), f.changed
		f.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

type fakeTimer struct {
	f    *Fake
	when time.Time
	c    chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	for i, tm := range t.f.timers {
		if tm == t {
			t.f.timers = append(t.f.timers[:i], t.f.timers[i+1:]...)
			t.f.notifyLocked()
			return true
		}
	}
	return false
}
