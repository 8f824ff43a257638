package keyq

import (
	"cmp"
	"slices"
)

// MaxWeight is the largest weight of a queue in Weighted and WorkerConfig.Weights.
const MaxWeight = 1_000_000

// Weighted makes one Dequeue or Next call serve queues by weight instead of in
// strict priority (S3.8): the call draws the order of the queues at random,
// each queue coming first with the probability of its weight over the sum of
// the weights, the next drawn the same way from the rest, and so on. It then
// takes from the first queue in that order that has a task, as Queues does
// (S3.1), so a call finds a task whenever any of the queues has one. Weights are
// 1 to MaxWeight; a name is not empty. Of Weighted and Queues, the later option
// wins.
func Weighted(weights map[string]int) DequeueOption {
	ws, err := newWeights(weights)
	return dequeueOption(func(o *dequeueOptions) {
		if err != nil {
			o.err = err
			return
		}
		o.p.Queues = ws.order(randIntN)
	})
}

// weighted is one queue and its weight.
type weighted struct {
	name   string
	weight int
}

// weights are queues with their weights, heaviest first.
type weights []weighted

func newWeights(m map[string]int) (weights, error) {
	if len(m) == 0 {
		return nil, invalid("no queue weights")
	}
	ws := make(weights, 0, len(m))
	for name, w := range m {
		if name == "" {
			return nil, invalid("empty queue name")
		}
		if w < 1 || w > MaxWeight {
			return nil, invalid("queue %q: weight %d out of range 1 to %d", name, w, MaxWeight)
		}
		ws = append(ws, weighted{name, w})
	}
	slices.SortFunc(ws, func(a, b weighted) int {
		return cmp.Or(cmp.Compare(b.weight, a.weight), cmp.Compare(a.name, b.name))
	})
	return ws, nil
}

// names lists the queues, heaviest first.
func (ws weights) names() []string {
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = w.name
	}
	return names
}

// order draws an order of the queues: each next queue is drawn from those left
// with a probability proportional to its weight. intN(n) returns a number in
// [0, n) at random.
func (ws weights) order(intN func(int) int) []string {
	left := slices.Clone(ws)
	sum := 0
	for _, w := range left {
		sum += w.weight
	}
	names := make([]string, 0, len(left))
	for len(left) > 0 {
		r := intN(sum)
		i := 0
		for r >= left[i].weight {
			r -= left[i].weight
			i++
		}
		names = append(names, left[i].name)
		sum -= left[i].weight
		left = slices.Delete(left, i, i+1)
	}
	return names
}
