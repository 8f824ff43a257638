package redisbackend

import (
	"context"
	"fmt"

	"github.com/keyq/keyq/backend"
)

// bareIDs shows this backend with the memory backend's IDs and tokens, the bare
// numbers of the sequence, so that the differential tests compare the two: it
// splits the epoch off every ID and token this backend returns, checking that it
// is always the same one, and puts it back on every ID and token it is given.
type bareIDs struct {
	*namespace
	epoch string // noEpoch until a reply shows the real one
}

func newBareIDs(n *namespace) *bareIDs { return &bareIDs{namespace: n, epoch: noEpoch} }

// strip returns the number of an ID or token of this backend.
func (w *bareIDs) strip(s string) (string, error) {
	epoch, n, ok := splitID(s)
	switch {
	case !ok:
		return "", fmt.Errorf("ID or token %q has no epoch", s)
	case w.epoch == noEpoch:
		w.epoch = epoch
	case epoch != w.epoch:
		return "", fmt.Errorf("ID or token %q: the epoch was %s", s, w.epoch)
	}
	return n, nil
}

// dress returns the ID or token of a number.
func (w *bareIDs) dress(n string) string { return w.epoch + "-" + n }

func (w *bareIDs) stripTask(t *backend.Task) error {
	id, err := w.strip(t.ID)
	t.ID = id
	return err
}

func (w *bareIDs) Enqueue(ctx context.Context, p backend.EnqueueParams) ([]string, error) {
	ids, err := w.namespace.Enqueue(ctx, p)
	for i := range ids {
		if ids[i], err = w.strip(ids[i]); err != nil {
			return nil, err
		}
	}
	return ids, err
}

func (w *bareIDs) Dequeue(ctx context.Context, p backend.DequeueParams) (backend.DequeueResult, error) {
	res, err := w.namespace.Dequeue(ctx, p)
	if serr := w.stripLeases(res.Leases); serr != nil {
		return res, serr
	}
	return res, err
}

func (w *bareIDs) stripLeases(ls []backend.Lease) error {
	for i := range ls {
		l := &ls[i]
		if err := w.stripTask(&l.Task); err != nil {
			return err
		}
		var err error
		if l.Token, err = w.strip(l.Token); err != nil {
			return err
		}
	}
	return nil
}

func (w *bareIDs) dressItems(p backend.SettleParams) backend.SettleParams {
	items := make([]backend.Settlement, len(p.Items))
	for i, s := range p.Items {
		s.TaskID, s.Token = w.dress(s.TaskID), w.dress(s.Token)
		items[i] = s
	}
	return backend.SettleParams{Items: items}
}

func (w *bareIDs) Settle(ctx context.Context, p backend.SettleParams) ([]backend.SettleResult, error) {
	return w.namespace.Settle(ctx, w.dressItems(p))
}

func (w *bareIDs) Exchange(ctx context.Context, sp backend.SettleParams, dp backend.DequeueParams) ([]backend.SettleResult, backend.DequeueResult, error) {
	res, d, err := w.namespace.Exchange(ctx, w.dressItems(sp), dp)
	if serr := w.stripLeases(d.Leases); serr != nil {
		return res, d, serr
	}
	return res, d, err
}

func (w *bareIDs) Extend(ctx context.Context, p backend.ExtendParams) ([]backend.ExtendResult, error) {
	leases := make([]backend.LeaseRef, len(p.Leases))
	for i, l := range p.Leases {
		leases[i] = backend.LeaseRef{TaskID: w.dress(l.TaskID), Token: w.dress(l.Token)}
	}
	return w.namespace.Extend(ctx, backend.ExtendParams{Leases: leases, Lease: p.Lease})
}

func (w *bareIDs) Peek(ctx context.Context, p backend.PeekParams) ([]backend.Task, error) {
	ts, err := w.namespace.Peek(ctx, p)
	for i := range ts {
		if err := w.stripTask(&ts[i]); err != nil {
			return nil, err
		}
	}
	return ts, err
}

func (w *bareIDs) Leases(ctx context.Context, p backend.LeasesParams) ([]backend.Lease, error) {
	ls, err := w.namespace.Leases(ctx, p)
	for i := range ls {
		if err := w.stripTask(&ls[i].Task); err != nil {
			return nil, err
		}
		if ls[i].Token, err = w.strip(ls[i].Token); err != nil {
			return nil, err
		}
	}
	return ls, err
}

func (w *bareIDs) Dead(ctx context.Context, p backend.DeadParams) ([]backend.DeadTask, error) {
	ds, err := w.namespace.Dead(ctx, p)
	for i := range ds {
		if err := w.stripTask(&ds[i].Task); err != nil {
			return nil, err
		}
	}
	return ds, err
}

func (w *bareIDs) dressIDs(p backend.DeadActionParams) backend.DeadActionParams {
	ids := make([]string, len(p.IDs))
	for i, id := range p.IDs {
		ids[i] = w.dress(id)
	}
	p.IDs = ids
	return p
}

func (w *bareIDs) RequeueDead(ctx context.Context, p backend.DeadActionParams) (int, error) {
	return w.namespace.RequeueDead(ctx, w.dressIDs(p))
}

func (w *bareIDs) PurgeDead(ctx context.Context, p backend.DeadActionParams) (int, error) {
	return w.namespace.PurgeDead(ctx, w.dressIDs(p))
}

func (w *bareIDs) Job(ctx context.Context, p backend.JobParams) (backend.Job, error) {
	p.ID = w.dress(p.ID)
	j, err := w.namespace.Job(ctx, p)
	if err == nil {
		j.ID, err = w.strip(j.ID)
	}
	return j, err
}

func (w *bareIDs) Delayed(ctx context.Context, p backend.DelayedParams) ([]backend.DelayedTask, error) {
	ds, err := w.namespace.Delayed(ctx, p)
	for i := range ds {
		if err := w.stripTask(&ds[i].Task); err != nil {
			return nil, err
		}
	}
	return ds, err
}

func (w *bareIDs) Cancel(ctx context.Context, p backend.CancelParams) (backend.CancelResult, error) {
	p.ID = w.dress(p.ID)
	return w.namespace.Cancel(ctx, p)
}
