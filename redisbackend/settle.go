package redisbackend

import (
	"context"
	"errors"
	"strconv"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/redisbackend/internal/lua"
)

// Settle implements backend.Namespace: one script (scripts/settle.lua) settles
// every item of a call whose leases share an epoch, so a batch costs one round
// trip. Items that cannot name a lease, and a token given again, are
// backend.SettleLost without reaching the server.
func (n *namespace) Settle(ctx context.Context, p backend.SettleParams) ([]backend.SettleResult, error) {
	if err := n.b.begin(ctx, p.Validate()); err != nil {
		return nil, err
	}
	items := p.Items
	res, send := sendable(items)
	var notRepl error
	for _, idx := range byEpoch(send, func(i int) string { return items[i].Token }) {
		args, order := settleArgs(items, idx)
		r, err := n.b.runReq(ctx, scriptSettle, n.k, args)
		if r == nil {
			return nil, err
		}
		notRepl = firstNotReplicated(notRepl, err)
		if err := settled(r, idx, order, res); err != nil {
			return nil, err
		}
	}
	return res, notRepl
}

// sendable returns a result per item, SettleLost for those that cannot name a
// lease and for a token given again, and the indexes of the others, whose results
// the server gives.
func sendable(items []backend.Settlement) (res []backend.SettleResult, send []int) {
	res = make([]backend.SettleResult, len(items))
	seen := make(map[string]bool, len(items))
	for i := range items {
		if _, _, _, ok := leaseName(items[i].Token, items[i].TaskID); !ok || seen[items[i].Token] {
			res[i] = backend.SettleLost
			continue
		}
		seen[items[i].Token] = true
		send = append(send, i)
	}
	return res, send
}

// settled reads settle.lua's reply r for the items[i], i in idx, whose results
// come in the order of order (settleArgs), into res.
func settled(r []any, idx, order []int, res []backend.SettleResult) error {
	if len(r) == 1 && r[0] == "lost" { // not the current epoch
		for _, i := range idx {
			res[i] = backend.SettleLost
		}
		return nil
	}
	if len(r) != len(order) {
		return corrupt("settle reply of %d items for %d leases", len(r), len(order))
	}
	for j, v := range r {
		switch v {
		case int64(0):
			res[order[j]] = backend.SettleLost
		case int64(1):
			res[order[j]] = backend.SettleDone
		case int64(2):
			res[order[j]] = backend.SettleDead
		default:
			return corrupt("settle reply item %v", v)
		}
	}
	return nil
}

// firstNotReplicated keeps the first backend.ErrNotReplicated of a call's
// script runs.
func firstNotReplicated(prev, err error) error {
	if prev == nil && errors.Is(err, backend.ErrNotReplicated) {
		return err
	}
	return prev
}

// byEpoch groups the indexes idx by the epoch of their tokens, in order of first
// appearance: the leases of one call share an epoch but around a loss of the
// store's data, when those of the old one are lost. Every token must have
// passed leaseName.
func byEpoch(idx []int, token func(int) string) [][]int {
	var groups [][]int
	at := map[string]int{}
	for _, i := range idx {
		e := token(i)[:epochLen]
		g, ok := at[e]
		if !ok {
			g = len(groups)
			at[e] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// ackKey is what the leases of one group of ack_all's arguments share.
type ackKey struct {
	bucket int64
	ttl    int64 // the answers' TTL in ms, 0 without answers
	job    string
}

// settleArgs builds settle.lua's arguments for the items[i], i in idx, which
// share an epoch, and returns the index in items of each result of its reply.
//
// The acks go first, as ack_all (scripts/common/acks.lua) reads them: groups of leases
// that share a record bucket, an answer TTL and a job outcome, each as its
// bucket, the TTL, the job outcome ("" for finished without error, else status,
// newline, error) and a count, then per lease its token, its task ID after one
// byte of the ID's length, and its answer as stored (storedAnswer) or "".
// Grouping in Go spares the script, on the server's single thread, parsing a
// number and repeating the TTL and the outcome per lease. A group is a run of
// consecutive acks, so two acks of one key with different answers leave the
// later answer, as one Ack after the other would. Releases and dead-letters
// follow, five arguments each. An ack and a release never touch the same lease,
// so running the acks first changes nothing a caller can see.
func settleArgs(items []backend.Settlement, idx []int) (args []any, order []int) {
	args = make([]any, 2, 4+5*len(idx)+1) // room for the request TTL
	args[0] = items[idx[0]].Token[:epochLen]
	order = make([]int, 0, len(idx))
	var cur ackKey
	at := -1 // the index in args of the current group's count
	for _, i := range idx {
		s := &items[i]
		if s.Action != backend.Ack {
			continue
		}
		token, _ := strconv.ParseInt(s.Token[epochLen+1:], 10, 64)
		k := ackKey{bucket: token / lua.LeaseBucket, job: jobOutcome(s)}
		if s.Answer != nil {
			k.ttl = durMS(s.Answer.TTL)
		}
		if at < 0 || k != cur {
			cur, at = k, len(args)+3
			args = append(args, k.bucket, k.ttl, k.job, 0)
		}
		args[at] = args[at].(int) + 1
		var answer any = ""
		if a := s.Answer; a != nil {
			answer = storedAnswer(a.Value, a.OK, k.ttl)
		}
		tok, id := s.Token[epochLen+1:], s.TaskID[epochLen+1:]
		args = append(args, tok, string([]byte{byte(len(id))})+id, answer)
		order = append(order, i)
	}
	args[1] = len(args) - 2
	for _, i := range idx {
		s := &items[i]
		mode := "d"
		switch s.Action {
		case backend.Ack:
			continue
		case backend.Release:
			mode = "r" + flag(s.ToTail) + flag(s.KeepAttempt)
		}
		args = append(args, s.Token[epochLen+1:], s.TaskID[epochLen+1:], mode, durMS(s.Delay), s.Error)
		order = append(order, i)
	}
	return args, order
}

// jobOutcome is how ack_all takes an ack's job status and error: "" for finished
// without error, else the status, a newline and the error.
func jobOutcome(s *backend.Settlement) string {
	if (s.Status != "" && s.Status != backend.StatusFinished) || s.Error != "" {
		status := s.Status
		if status == "" {
			status = backend.StatusFinished
		}
		return string(status) + "\n" + s.Error
	}
	return ""
}

// Extend implements backend.Namespace: one script (scripts/extend.lua) extends
// every lease of a call whose leases share an epoch. A lease that Cancel ended
// is reported Cancelled while its tombstone lasts, until its old deadline.
func (n *namespace) Extend(ctx context.Context, p backend.ExtendParams) ([]backend.ExtendResult, error) {
	if err := n.b.begin(ctx, p.Validate()); err != nil {
		return nil, err
	}
	out := make([]backend.ExtendResult, len(p.Leases))
	var send []int
	for i, l := range p.Leases {
		if _, _, _, ok := leaseName(l.Token, l.TaskID); ok {
			send = append(send, i)
		}
	}
	var notRepl error
	for _, idx := range byEpoch(send, func(i int) string { return p.Leases[i].Token }) {
		args := make([]any, 0, 3+2*len(idx))
		args = append(args, p.Leases[idx[0]].Token[:epochLen], durMS(p.Lease))
		for _, i := range idx {
			args = append(args, p.Leases[i].Token[epochLen+1:], p.Leases[i].TaskID[epochLen+1:])
		}
		r, err := n.b.runReq(ctx, scriptExtend, n.k, args)
		if r == nil {
			return nil, err
		}
		notRepl = firstNotReplicated(notRepl, err)
		if len(r) == 1 && r[0] == "lost" {
			continue
		}
		if len(r) != 1+len(idx) {
			return nil, corrupt("extend reply of %d items for %d leases", len(r), len(idx))
		}
		var in ints
		for j, i := range idx {
			switch ms := in.of(r[1+j]); {
			case ms > 0:
				out[i].Deadline = msTime(ms)
			case ms < 0: // ended by Cancel (controller.go)
				out[i].Cancelled = true
			}
		}
		if in.err != nil {
			return nil, in.err
		}
	}
	return out, notRepl
}
