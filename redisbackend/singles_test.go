package redisbackend

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/memory"
	"github.com/keyq/keyq/redisbackend/internal/lua"
)

// singlesOp is one step of TestSinglesBesideGroup on a namespace whose leases
// are l; advance moves the clocks of both backends.
type singlesOp struct {
	name string
	call func(ctx context.Context, b diffNS, l []backend.Lease) (any, error)
	// advance, when not 0, moves both clocks by that much before the call.
	advance time.Duration
}

// TestSinglesBesideGroup (S4.2 to S4.6): a lease that a dequeue puts alone in its
// bucket and deadline is a single (scripts/common/leases.lua), and two singles and
// a group of two share one bucket and one deadline here. In every order of an
// ack, a release, extends that keep a single, make one of a group's lease and
// merge a single into a group, and a reclaim once the first deadline has passed,
// every call gives what the memory backend gives: each lease listed, counted,
// settled and reclaimed once, reclaims in order of deadline then token
// (backend/doc.go, Housekeeping). Then all of them expire and are reclaimed, and
// no lease key is left. The first single's dequeue is sent twice under one
// request key, as go-redis resends it.
func TestSinglesBesideGroup(t *testing.T) {
	ctx := context.Background()
	ack := func(i int) func(context.Context, diffNS, []backend.Lease) (any, error) {
		return func(ctx context.Context, b diffNS, l []backend.Lease) (any, error) {
			return b.Settle(ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: ref(l[i]), Action: backend.Ack}}})
		}
	}
	extend := func(is ...int) func(context.Context, diffNS, []backend.Lease) (any, error) {
		return func(ctx context.Context, b diffNS, l []backend.Lease) (any, error) {
			p := backend.ExtendParams{Lease: 5 * time.Second}
			for _, i := range is {
				p.Leases = append(p.Leases, ref(l[i]))
			}
			return b.Extend(ctx, p)
		}
	}
	// The leases: 0 a single, 1 and 2 a group, 3 a single, all of bucket 0 with
	// one deadline, a second from now.
	ops := []singlesOp{
		{name: "ack single 0", call: ack(0)},
		{name: "release group's 1", call: func(ctx context.Context, b diffNS, l []backend.Lease) (any, error) {
			return b.Settle(ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: ref(l[1]), Action: backend.Release}}})
		}},
		{name: "extend group's 2 alone", call: extend(2)},
		{name: "extend single 3 alone", call: extend(3)},
		{name: "extend single 0 with group's 1", call: extend(0, 1)},
		{name: "reclaim past the first deadline", advance: 2 * time.Second,
			call: func(ctx context.Context, b diffNS, _ []backend.Lease) (any, error) { return b.Reclaim(ctx) }},
	}
	perms := permutations(len(ops))
	if testing.Short() || raceEnabled {
		// Every tenth order: the race detector makes each ten times slower.
		t.Logf("short or race run: %d of the %d orders", (len(perms)+9)/10, len(perms))
		var some [][]int
		for i := 0; i < len(perms); i += 10 {
			some = append(some, perms[i])
		}
		perms = some
	}
	mt := newMini(t)
	opts := []cmp.Option{cmpopts.EquateEmpty()}
	for pi, perm := range perms {
		name := fmt.Sprintf("order%d", pi)
		clk := clock.NewFake(mt.Now())
		memB := memory.New(memory.WithClock(clk))
		memNS, err := memB.Namespace(name)
		if err != nil {
			t.Fatal(err)
		}
		mem := memNS.(diffNS)
		rh := mt.b.handle(name)
		red := diffNS(newBareIDs(rh))
		var order []string
		for _, i := range perm {
			order = append(order, ops[i].name)
		}
		fail := func(format string, args ...any) {
			t.Helper()
			memB.Close()
			t.Fatalf("order %q: %s", order, fmt.Sprintf(format, args...))
		}
		// both makes a call on each backend and fails unless they agree.
		both := func(what string, f func(b diffNS) (any, error)) any {
			t.Helper()
			want, wantErr := f(mem)
			got, gotErr := f(red)
			if errKind(wantErr) != errKind(gotErr) {
				fail("%s: error %v, memory says %v", what, gotErr, wantErr)
			}
			if d := cmp.Diff(want, got, opts...); d != "" {
				fail("%s: results differ (-memory +redis):\n%s", what, d)
			}
			return want
		}
		look := func(after string) {
			t.Helper()
			both("Leases after "+after, func(b diffNS) (any, error) { return b.Leases(ctx, backend.LeasesParams{Count: 100}) })
			both("Stats after "+after, func(b diffNS) (any, error) { return b.Stats(ctx, backend.StatsParams{}) })
			if err := checkLeaseLayout(ctx, mt, rh.k); err != nil {
				fail("after %s: %v", after, err)
			}
		}
		var msgs []backend.Message
		for _, p := range []string{"a", "b", "c", "d", "e"} {
			msgs = append(msgs, msg(p, 3))
		}
		both("Enqueue", func(b diffNS) (any, error) {
			return b.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: msgs})
		})
		var leases []backend.Lease
		for j, n := range []int{1, 2, 1} {
			p := backend.DequeueParams{Queues: []string{"q"}, Count: n, Lease: time.Second}
			var again any
			r := both(fmt.Sprintf("Dequeue %d", j), func(b diffNS) (any, error) {
				if b != red || j != 0 {
					return dequeueNext(b.Dequeue(ctx, p))
				}
				mt.b.testRequest = func(k *nsKeys) string { return k.prefix + "i:single" }
				defer func() { mt.b.testRequest = nil }()
				first, err := dequeueNext(b.Dequeue(ctx, p))
				if err != nil {
					return first, err
				}
				again, err = dequeueNext(b.Dequeue(ctx, p))
				return first, err
			}).(backend.DequeueResult)
			if again != nil {
				if d := cmp.Diff(r, again, opts...); d != "" {
					fail("Dequeue of a single sent again returned another outcome (-first +again):\n%s", d)
				}
			}
			leases = append(leases, r.Leases...)
		}
		if len(leases) != 4 {
			fail("%d leases, want 4", len(leases))
		}
		look("the dequeues")
		for _, i := range perm {
			op := ops[i]
			if op.advance != 0 {
				clk.Advance(op.advance)
				mt.Advance(op.advance)
			}
			both(op.name, func(b diffNS) (any, error) { return op.call(ctx, b, leases) })
			look(op.name)
		}
		clk.Advance(10 * time.Second)
		mt.Advance(10 * time.Second)
		both("Reclaim at the end", func(b diffNS) (any, error) { return b.Reclaim(ctx) })
		look("the last reclaim")
		// The queue's order and the tasks' attempts tell which went back, and when.
		both("Dequeue at the end", func(b diffNS) (any, error) {
			return dequeueNext(b.Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 10, Lease: time.Minute}))
		})
		clk.Advance(2 * time.Minute)
		mt.Advance(2 * time.Minute)
		both("Reclaim of the last dequeue", func(b diffNS) (any, error) { return b.Reclaim(ctx) })
		memB.Close()
		for _, k := range mt.mr.Keys() {
			if strings.HasPrefix(k, rh.k.prefix+lua.KeyRecords) || k == rh.k.all[2] || k == rh.k.all[3] {
				fail("key %q left after every lease ended", k)
			}
		}
	}
}

// checkLeaseLayout checks that a namespace's lease records, leases zset and group
// counts agree (scripts/common/leases.lua): each record of a single has its member
// at its deadline; each record of a group is counted in its group, whose member is
// at its deadline; and no member or count stands for no record.
func checkLeaseLayout(ctx context.Context, mt *miniTarget, k *nsKeys) error {
	c := mt.client
	zs, err := c.ZRangeWithScores(ctx, k.all[2], 0, -1).Result()
	if err != nil {
		return err
	}
	members := map[string]int64{}
	for _, z := range zs {
		members[z.Member.(string)] = int64(z.Score)
	}
	counts, err := c.HGetAll(ctx, k.all[3]).Result()
	if err != nil {
		return err
	}
	want := map[string]int{} // group -> its records
	wantMembers := map[string]int64{}
	for _, key := range mt.mr.Keys() {
		bucket, ok := strings.CutPrefix(key, k.prefix+lua.KeyRecords)
		if !ok {
			continue
		}
		bk, err := strconv.ParseInt(bucket, 10, 64)
		if err != nil {
			return fmt.Errorf("lease bucket key %q", key)
		}
		recs, err := c.HGetAll(ctx, key).Result()
		if err != nil {
			return err
		}
		for token, rec := range recs {
			if len(rec) < lua.RecQueue {
				return fmt.Errorf("lease %s: record of %d bytes", token, len(rec))
			}
			var dl int64
			for i, b := range []byte(rec[lua.RecDeadline:lua.RecQueueLen]) {
				if i == 0 {
					b &^= lua.RecSingle
				}
				dl = dl<<8 | int64(b)
			}
			if t, err := strconv.ParseInt(token, 10, 64); err != nil || t/lua.LeaseBucket != bk {
				return fmt.Errorf("lease %s in bucket %d", token, bk)
			}
			m := fmt.Sprintf("%0*d%s%d", lua.Pad, bk, lua.GroupMark, dl)
			if rec[lua.RecDeadline]&lua.RecSingle != 0 {
				m = fmt.Sprintf("%0*d%s%s", lua.Pad, bk, lua.SingleMark, token)
			} else {
				want[m]++
			}
			wantMembers[m] = dl
		}
	}
	if d := cmp.Diff(wantMembers, members, cmpopts.EquateEmpty()); d != "" {
		return fmt.Errorf("leases zset (-from the records +stored):\n%s", d)
	}
	got := map[string]int{}
	for g, n := range counts {
		if got[g], err = strconv.Atoi(n); err != nil {
			return fmt.Errorf("group %s counts %q", g, n)
		}
	}
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		return fmt.Errorf("group counts (-from the records +stored):\n%s", d)
	}
	return nil
}

// permutations returns every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for at := 0; at <= len(p); at++ {
			q := append(append(append([]int(nil), p[:at]...), n-1), p[at:]...)
			out = append(out, q)
		}
	}
	return out
}
