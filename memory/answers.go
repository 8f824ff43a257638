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

// SetAnswer stores an answer; see backend.Backend.
func (b *Backend) SetAnswer(ctx context.Context, p backend.SetAnswerParams) error {
	ns, now, err := b.open(ctx, p.Namespace)
	if err != nil {
		return err
	}
	defer ns.mu.Unlock()
	a := p.Answer
	a.Value = slices.Clone(a.Value)
	ns.setAnswer(p.Key, a, now)
	return nil
}

// GetAnswer reads an answer, resetting its TTL with p.Refresh; see backend.Backend.
func (b *Backend) GetAnswer(ctx context.Context, p backend.GetAnswerParams) (backend.Answer, error) {
	ns, now, err := b.open(ctx, p.Namespace)
	if err != nil {
		return backend.Answer{}, err
	}
	defer ns.mu.Unlock()
	a := ns.liveAnswer(p.Key, now)
	if a == nil {
		return backend.Answer{}, answerNotFound(p.Key)
	}
	if p.Refresh {
		ns.refresh(a, now)
	}
	return backend.Answer{Value: slices.Clone(a.value), OK: a.ok, TTL: a.ttl, Left: a.at.Sub(now)}, nil
}

// DeleteAnswer removes an answer; see backend.Backend.
func (b *Backend) DeleteAnswer(ctx context.Context, p backend.DeleteAnswerParams) error {
	ns, now, err := b.open(ctx, p.Namespace)
	if err != nil {
		return err
	}
	defer ns.mu.Unlock()
	a := ns.liveAnswer(p.Key, now)
	if a == nil {
		return answerNotFound(p.Key)
	}
	ns.answerDue.remove(a)
	delete(ns.answers, p.Key)
	return nil
}
