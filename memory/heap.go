package memory

import (
	"container/heap"
	"time"
)

// timed is an entry of a deadline heap: a point in time, a tie-breaker, and its own
// position in the heap so it can be removed or moved in O(log n).
type timed struct {
	at    time.Time
	order uint64
	index int // -1 when not in a heap
}

func (e *timed) entry() *timed { return e }

type heapItem interface{ entry() *timed }

// deadlines is a min-heap ordered by (at, order).
type deadlines[T heapItem] struct{ items []T }

func (h *deadlines[T]) Len() int { return len(h.items) }
func (h *deadlines[T]) Less(i, j int) bool {
	a, b := h.items[i].entry(), h.items[j].entry()
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.order < b.order
}
func (h *deadlines[T]) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].entry().index = i
	h.items[j].entry().index = j
}
func (h *deadlines[T]) Push(x any) {
	it := x.(T)
	it.entry().index = len(h.items)
	h.items = append(h.items, it)
}
func (h *deadlines[T]) Pop() any {
	n := len(h.items) - 1
	it := h.items[n]
	var zero T
	h.items[n] = zero
	h.items = h.items[:n]
	it.entry().index = -1
	return it
}

func (h *deadlines[T]) add(it T, at time.Time, order uint64) {
	e := it.entry()
	e.at, e.order = at, order
	heap.Push(h, it)
}

func (h *deadlines[T]) remove(it T) {
	if i := it.entry().index; i >= 0 {
		heap.Remove(h, i)
	}
}

// move gives an entry that is in the heap a new time.
func (h *deadlines[T]) move(it T, at time.Time) {
	it.entry().at = at
	heap.Fix(h, it.entry().index)
}

// due pops the first entry if its time is at or before now.
func (h *deadlines[T]) due(now time.Time) (T, bool) {
	var zero T
	if len(h.items) == 0 || h.items[0].entry().at.After(now) {
		return zero, false
	}
	return heap.Pop(h).(T), true
}

// first returns the time of the earliest entry, or the zero time.
func (h *deadlines[T]) first() time.Time {
	if len(h.items) == 0 {
		return time.Time{}
	}
	return h.items[0].entry().at
}

// dueEach calls f for every entry whose time is at or before now, in no particular
// order, visiting only those entries and their children.
func (h *deadlines[T]) dueEach(now time.Time, f func(T)) {
	stack := []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= len(h.items) || h.items[i].entry().at.After(now) {
			continue
		}
		f(h.items[i])
		stack = append(stack, 2*i+1, 2*i+2)
	}
}
