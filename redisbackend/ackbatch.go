package redisbackend

import (
	"context"
	"fmt"

	"github.com/keyq/keyq/backend"
)

var scriptAckBatch = loadScript("ackbatch")

var _ backend.BatchAcker = (*Backend)(nil)

// AckBatch implements backend.BatchAcker: one script acks every lease of the batch,
// each as Ack would, so a batch costs one round trip and one script run.
func (b *Backend) AckBatch(ctx context.Context, ps []backend.AckParams) ([]error, error) {
	errs := make([]error, len(ps))
	if len(ps) == 0 {
		return errs, nil
	}
	ns := ps[0].Namespace
	if err := b.begin(ctx, func() error { return nil }); err != nil {
		return nil, err
	}
	args := make([]any, 0, ackArgs*len(ps))
	sent := make([]int, 0, len(ps))
	for i := range ps {
		p := &ps[i]
		if errs[i] = p.Validate(); errs[i] != nil {
			continue
		}
		switch {
		case p.Namespace != ns:
			errs[i] = fmt.Errorf("%w: a batch ack mixes namespaces %q and %q", backend.ErrInvalid, ns, p.Namespace)
			continue
		case !isDecimal(p.Token):
			errs[i] = backend.ErrLeaseLost
			continue
		}
		args = appendAckArgs(args, p)
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		return errs, nil
	}
	r, err := b.run(ctx, scriptAckBatch, b.nsKeys(ns), args...)
	if err != nil {
		return nil, err
	}
	if len(r) != len(sent) {
		return nil, corrupt("batch ack reply of %d items for %d leases", len(r), len(sent))
	}
	for j, v := range r {
		if n, ok := v.(int64); !ok || n != 1 {
			errs[sent[j]] = backend.ErrLeaseLost
		}
	}
	return errs, nil
}

// ackArgs is how many script arguments one lease's ack takes (appendAckArgs).
const ackArgs = 5

// appendAckArgs appends the arguments of one lease's ack, as ack_all in
// scripts/common.lua reads them: token, task ID, job outcome ("" for finished
// without error, else status, newline, error), the answer as stored ("" for none)
// and its TTL in ms. Go builds the stored answer so that the script,
// which runs on the server's single thread, only copies it.
func appendAckArgs(args []any, p *backend.AckParams) []any {
	job := ""
	if (p.Status != "" && p.Status != backend.StatusFinished) || p.Error != "" {
		status := p.Status
		if status == "" {
			status = backend.StatusFinished
		}
		job = string(status) + "\n" + p.Error
	}
	if a := p.Answer; a != nil {
		ttl := durMS(a.TTL)
		return append(args, p.Token, p.TaskID, job, storedAnswer(a.Value, a.OK, ttl), ttl)
	}
	return append(args, p.Token, p.TaskID, job, "", 0)
}
