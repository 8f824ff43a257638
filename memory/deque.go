package memory

// deque is a ring buffer of tasks with O(1) push and pop at both ends.
type deque struct {
	buf  []*task
	head int
	n    int
}

func (d *deque) len() int { return d.n }

func (d *deque) grow() {
	if d.n < len(d.buf) {
		return
	}
	nb := make([]*task, max(16, 2*len(d.buf)))
	for i := 0; i < d.n; i++ {
		nb[i] = d.buf[(d.head+i)%len(d.buf)]
	}
	d.buf, d.head = nb, 0
}

func (d *deque) pushBack(t *task) {
	d.grow()
	d.buf[(d.head+d.n)%len(d.buf)] = t
	d.n++
}

func (d *deque) pushFront(t *task) {
	d.grow()
	d.head = (d.head - 1 + len(d.buf)) % len(d.buf)
	d.buf[d.head] = t
	d.n++
}

func (d *deque) popFront() *task {
	t := d.buf[d.head]
	d.buf[d.head] = nil
	d.head = (d.head + 1) % len(d.buf)
	d.n--
	return t
}

// at returns the i-th task from the head.
func (d *deque) at(i int) *task { return d.buf[(d.head+i)%len(d.buf)] }

// removeAt removes the i-th task from the head, moving those behind it up one
// place: O(n).
func (d *deque) removeAt(i int) {
	for ; i < d.n-1; i++ {
		d.buf[(d.head+i)%len(d.buf)] = d.buf[(d.head+i+1)%len(d.buf)]
	}
	d.buf[(d.head+d.n-1)%len(d.buf)] = nil
	d.n--
}
