package redisbackend

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/keyq/keyq/backend"
)

var scriptAckBatch = loadScript("ackbatch")

var _ backend.BatchAcker = (*Backend)(nil)

// AckBatch implements backend.BatchAcker: one script acks every lease of the batch,
// each as Ack would, so a batch costs one round trip and one script run.
func (b *Backend) AckBatch(ctx context.Context, ps []backend.AckParams) ([]error, error) {
	if err := b.begin(ctx, func() error { return nil }); err != nil {
		return nil, err
	}
	errs := make([]error, len(ps))
	if len(ps) == 0 {
		return errs, nil
	}
	ns := ps[0].Namespace
	sent := make([]int, 0, len(ps))
	seen := make(map[string]bool, len(ps))
	for i := range ps {
		p := &ps[i]
		if errs[i] = p.Validate(); errs[i] != nil {
			continue
		}
		switch {
		case p.Namespace != ns:
			errs[i] = fmt.Errorf("%w: a batch ack mixes namespaces %q and %q", backend.ErrInvalid, ns, p.Namespace)
			continue
		case !ackable(p) || seen[p.Token]:
			// A token given twice is acked once: the first time.
			errs[i] = backend.ErrLeaseLost
			continue
		}
		seen[p.Token] = true
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		return errs, nil
	}
	// One script call per epoch: leases of two epochs meet in a batch only around
	// a loss of the store's data, and then those of the old one are lost.
	for len(sent) > 0 {
		this, rest := byEpoch(ps, sent)
		args, order := ackArgs(ps, this)
		r, err := b.runReq(ctx, scriptAckBatch, b.nsKeys(ns), append(args, ps[this[0]].Token[:epochLen]))
		if r == nil {
			return nil, err
		}
		if len(r) == 1 && r[0] == "lost" { // not the current epoch
			for _, i := range this {
				errs[i] = backend.ErrLeaseLost
			}
		} else if len(r) != len(order) {
			return nil, corrupt("batch ack reply of %d items for %d leases", len(r), len(order))
		}
		for j, v := range r {
			if n, ok := v.(int64); !ok || n != 1 {
				errs[order[j]] = backend.ErrLeaseLost
			} else if err != nil { // acked, not confirmed by replicas
				errs[order[j]] = err
			}
		}
		sent = rest
	}
	return errs, nil
}

// byEpoch splits the leases ps[i], i in idx, into those of the first one's epoch
// and the others.
func byEpoch(ps []backend.AckParams, idx []int) (this, rest []int) {
	epoch := ps[idx[0]].Token[:epochLen]
	for j, i := range idx {
		if ps[i].Token[:epochLen] != epoch {
			if this == nil {
				this = slices.Clip(idx[:j])
			}
			rest = append(rest, i)
		} else if this != nil {
			this = append(this, i)
		}
	}
	if this == nil {
		return idx, nil
	}
	return this, rest
}

// leaseBucket is how many consecutive lease tokens share one record hash,
// l:<token / leaseBucket> (LB in scripts/common.lua).
const leaseBucket = 128

// ackable reports whether p's token and task ID can name a live lease at all
// (leaseName). Others are lost without a call.
func ackable(p *backend.AckParams) bool {
	_, _, _, ok := leaseName(p.Token, p.TaskID)
	return ok
}

// ackKey is what the leases of one group of ack_all's arguments share.
type ackKey struct {
	bucket int64
	ttl    int64 // the answers' TTL in ms, 0 without answers
	job    string
}

// ackArgs builds the arguments of ack_all (scripts/common.lua) for the leases
// ps[i], i in idx, which must be ackable: groups of leases that share a record
// bucket, an answer TTL and a job outcome, each as its bucket, the TTL, the job
// outcome ("" for finished without error, else status, newline, error) and a
// count, then per lease its token, its task ID after one byte of the ID's
// length, and its answer as stored (storedAnswer) or "". Grouping in Go spares
// the script, on the server's single thread, parsing a number and repeating
// the TTL and the outcome per lease. A group is a run of consecutive leases, so
// the script applies the leases in the order of idx: two leases of one key acked
// with different answers leave the later answer, as one Ack after the other
// would. order[j] is the index in ps of the j-th lease in the arguments, which
// is the order of ack_all's results; it is idx.
func ackArgs(ps []backend.AckParams, idx []int) (args []any, order []int) {
	args = make([]any, 0, 4+3*len(idx)+2) // room for the epoch and request
	order = make([]int, 0, len(idx))
	var cur ackKey
	at := -1 // the index in args of the current group's count
	for _, i := range idx {
		p := &ps[i]
		token, _ := strconv.ParseInt(p.Token[epochLen+1:], 10, 64)
		k := ackKey{bucket: token / leaseBucket, job: jobOutcome(p)}
		if p.Answer != nil {
			k.ttl = durMS(p.Answer.TTL)
		}
		if at < 0 || k != cur {
			cur, at = k, len(args)+3
			args = append(args, k.bucket, k.ttl, k.job, 0)
		}
		args[at] = args[at].(int) + 1
		var answer any = ""
		if a := p.Answer; a != nil {
			answer = storedAnswer(a.Value, a.OK, k.ttl)
		}
		tok, id := p.Token[epochLen+1:], p.TaskID[epochLen+1:]
		args = append(args, tok, string([]byte{byte(len(id))})+id, answer)
		order = append(order, i)
	}
	return args, order
}

// jobOutcome is how ack_all takes an ack's job status and error: "" for finished
// without error, else the status, a newline and the error.
func jobOutcome(p *backend.AckParams) string {
	if (p.Status != "" && p.Status != backend.StatusFinished) || p.Error != "" {
		status := p.Status
		if status == "" {
			status = backend.StatusFinished
		}
		return string(status) + "\n" + p.Error
	}
	return ""
}
