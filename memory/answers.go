package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/keyq/keyq/backend"
)

func answerNotFound(key string) error {
	return fmt.Errorf("%w: no answer for key %.64q", backend.ErrNotFound, key)
}

// SetAnswer stores an answer; see backend.Namespace.
func (ns *Namespace) SetAnswer(ctx context.Context, p backend.SetAnswerParams) error {
	if err := ns.lock(ctx, p.Validate()); err != nil {
		return err
	}
	defer ns.unlock()
	a := p.Answer
	a.Value = slices.Clone(a.Value)
	ns.setAnswer(p.Key, a, ns.b.clock.Now())
	return nil
}

// GetAnswer reads an answer, resetting its TTL with p.Refresh; see
// backend.Namespace.
func (ns *Namespace) GetAnswer(ctx context.Context, p backend.GetAnswerParams) (backend.Answer, error) {
	if err := ns.lock(ctx, p.Validate()); err != nil {
		return backend.Answer{}, err
	}
	defer ns.unlock()
	now := ns.b.clock.Now()
	a := ns.liveAnswer(p.Key, now)
	if a == nil {
		return backend.Answer{}, answerNotFound(p.Key)
	}
	if p.Refresh {
		ns.refresh(a, now)
	}
	return backend.Answer{Value: slices.Clone(a.value), OK: a.ok, TTL: a.ttl, Left: a.at.Sub(now)}, nil
}
