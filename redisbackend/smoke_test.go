package redisbackend

import (
	"context"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
)

func TestSmoke(t *testing.T) {
	mt := newMini(t)
	b := mt.b
	ctx := context.Background()
	ids, err := b.Enqueue(ctx, backend.EnqueueParams{Namespace: "n{s}", Queue: "q", TrackJobs: true, JobTTL: time.Hour,
		Tasks: []backend.Message{{Type: "t", Key: "k", Payload: []byte("p"), MaxAttempts: 2, Headers: map[string]string{"a": "b"}}, {Key: "x", Payload: []byte("x"), MaxAttempts: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(ids)
	res, err := b.Dequeue(ctx, backend.DequeueParams{Namespace: "n{s}", Queues: []string{"z", "q"}, Count: 5, Lease: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	l := res.Leases[0]
	if err := b.Ack(ctx, backend.AckParams{Namespace: "n{s}", TaskID: l.ID, Token: l.Token, Answer: &backend.Answer{Value: []byte("v"), OK: true, TTL: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(ctx, backend.ReleaseParams{Namespace: "n{s}", TaskID: res.Leases[1].ID, Token: res.Leases[1].Token, Delay: time.Second}); err != nil {
		t.Fatal(err)
	}
	a, err := b.GetAnswer(ctx, backend.GetAnswerParams{Namespace: "n{s}", Key: "k", Refresh: true})
	t.Logf("%+v %v", a, err)
	j, err := b.Job(ctx, backend.JobParams{Namespace: "n{s}", ID: ids[0]})
	t.Logf("%+v %v", j, err)
	st, err := b.Stats(ctx, backend.StatsParams{Namespace: "n{s}"})
	t.Logf("%+v %v", st, err)
	mt.Advance(2 * time.Second)
	pk, err := b.Peek(ctx, backend.PeekParams{Namespace: "n{s}", Queue: "q", Count: 10})
	t.Logf("%+v %v", pk, err)
	res, err = b.Dequeue(ctx, backend.DequeueParams{Namespace: "n{s}", Queues: []string{"q"}, Count: 5, Lease: time.Second})
	t.Logf("%+v %v", res, err)
	ls, err := b.Leases(ctx, backend.LeasesParams{Namespace: "n{s}", Count: 5})
	t.Logf("%+v %v", ls, err)
	mt.Advance(2 * time.Second)
	n, err := b.Reclaim(ctx, backend.ReclaimParams{Namespace: "n{s}"})
	t.Logf("reclaim %d %v", n, err)
	d, err := b.Dead(ctx, backend.DeadParams{Namespace: "n{s}", Count: 5})
	t.Logf("%+v %v", d, err)
	n, err = b.RequeueDead(ctx, backend.DeadActionParams{Namespace: "n{s}", All: true})
	t.Logf("requeue %d %v", n, err)
	w, err := b.Allow(ctx, backend.AllowParams{Namespace: "n{s}", Name: "r", Interval: time.Second, Burst: 1})
	t.Logf("allow %v %v", w, err)
	w, err = b.Allow(ctx, backend.AllowParams{Namespace: "n{s}", Name: "r", Interval: time.Second, Burst: 1})
	t.Logf("allow %v %v", w, err)
	t.Log(mt.mr.Keys())
}
