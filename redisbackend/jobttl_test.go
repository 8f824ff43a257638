package redisbackend

import (
	"context"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/redisbackend/internal/lua"
)

// TestJobTTLFromBlob: an ack or a dead-letter makes a job record expire after the
// job TTL its task's blob carries, not the record's "ttl" field; an ack of a task
// stored without it (by a build before lua.FlagJobTTL) expires it by that field.
func TestJobTTLFromBlob(t *testing.T) {
	mt := newMini(t)
	ctx := context.Background()
	n := nsOf(mt.b, "jobttl")
	ids, err := n.Enqueue(ctx, backend.EnqueueParams{Queue: "q", TrackJobs: true, JobTTL: time.Hour,
		Tasks: []backend.Message{message(1), message(2), message(3)}})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(id string) string {
		_, num, ok := splitID(id)
		if !ok {
			t.Fatalf("task ID %q", id)
		}
		return n.k.job(num)
	}
	// Records that say otherwise than the blobs: the second task's blob is made an
	// older build's, without the TTL, so only its record's counts.
	for i, ttl := range []string{"5000", "7000", "5000"} {
		if err := mt.client.HSet(ctx, rec(ids[i]), "ttl", ttl).Err(); err != nil {
			t.Fatal(err)
		}
	}
	qk := n.k.queue("q")
	b, err := mt.client.LIndex(ctx, qk, 1).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if b[lua.BlobFlags]&lua.FlagJobTTL == 0 {
		t.Fatalf("a tracked task's blob has no job TTL: flags %#x", b[lua.BlobFlags])
	}
	at := lua.BlobID + int(b[lua.BlobIDLen])
	old := append([]byte{b[0] &^ lua.FlagJobTTL}, b[1:at]...)
	old = append(old, b[at+lua.BlobJobTTLLen:]...)
	if err := mt.client.LSet(ctx, qk, 1, old).Err(); err != nil {
		t.Fatal(err)
	}
	res, err := n.Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 3, Lease: time.Minute})
	if err != nil || len(res.Leases) != 3 {
		t.Fatalf("dequeue: %v, %d leases", err, len(res.Leases))
	}
	for i, l := range res.Leases {
		if l.Task.ID != ids[i] || string(l.Task.Payload) != string(message(i+1).Payload) {
			t.Fatalf("lease %d is task %s %q, want %s %q", i, l.Task.ID, l.Task.Payload, ids[i], message(i+1).Payload)
		}
	}
	items := []backend.Settlement{
		{LeaseRef: ref(res.Leases[0]), Action: backend.Ack},
		{LeaseRef: ref(res.Leases[1]), Action: backend.Ack},
		{LeaseRef: ref(res.Leases[2]), Action: backend.DeadLetter},
	}
	out, err := n.Settle(ctx, backend.SettleParams{Items: items})
	if err != nil || len(out) != 3 || out[0] != backend.SettleDone || out[1] != backend.SettleDone || out[2] != backend.SettleDone {
		t.Fatalf("settle: %v, %v", out, err)
	}
	for i, want := range []time.Duration{time.Hour, 7 * time.Second, time.Hour} {
		if got := mt.mr.TTL(rec(ids[i])); got != want {
			t.Errorf("task %d's record expires in %v, want %v", i, got, want)
		}
	}
}
