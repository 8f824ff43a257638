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
	args := make([]any, 0, 8*len(ps))
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
		status := p.Status
		if status == "" {
			status = backend.StatusFinished
		}
		if a := p.Answer; a != nil {
			args = append(args, p.Token, p.TaskID, string(status), p.Error, "1", a.Value, flag(a.OK), durMS(a.TTL))
		} else {
			args = append(args, p.Token, p.TaskID, string(status), p.Error, "0", "", "0", "0")
		}
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
