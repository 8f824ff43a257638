package backend

// Bookkeeping every driver keeps the same way, so that two drivers given the same
// calls give the same observable results (the differential tests rely on it):
//
//   - Sequence. Each namespace has one counter, starting at 1. Enqueue takes one
//     number per task, in order, and the task ID is its decimal form. Every lease
//     handed out takes the next number as its Token, also in decimal. A driver whose
//     store can lose its data while clients hold IDs and tokens (Redis restarted
//     without persistence) puts a fixed-width name of the counter's life, which
//     changes whenever the counter starts again, and a '-' before each number, so
//     that an ID or token from before a loss never names a task or lease from after
//     it; the numbers stay the same.
//
//   - Liveness. A lease is live while the backend's clock reads before its Deadline.
//     Settle, Extend, Leases and Stats treat a lease at or past its deadline as ended,
//     whether or not housekeeping has reclaimed it yet. Likewise an answer is gone
//     once its TTL has passed and a final job record once its JobTTL has.
//
//   - Housekeeping. Before any call that changes a namespace's tasks (Enqueue,
//     Dequeue, Settle, Extend, Controller.Cancel and Admin's calls; not
//     Controller.Pause, which changes no task), the driver first moves due
//     delayed tasks to the head of their queues, in order of
//     due time then ID, and then reclaims expired leases in order of deadline then
//     token (tokens compare as numbers, not strings): each goes to the head of its
//     queue with Attempt+1 (job status pending,
//     last error "lease expired"), or to the dead-letter list when Attempt+1
//     reaches MaxAttempts. A driver may cap one round at HousekeepingBatch tasks of
//     each kind; the next call goes on.
//
//   - Dedupe. A task dropped on dequeue because its key has an answer counts in
//     Counters.Deduped, leaves the key index, and its job record, if any, becomes
//     finished. A Dequeue drops at most DedupeCap tasks per round: a round that
//     reaches the cap with fewer leases than asked ends, housekeeping runs again,
//     and the next round starts again from the first queue of the call.
//
//   - Key index. A task's key counts as present (for unique enqueue) from enqueue
//     until ack, dedupe or dead-lettering, whether it is waiting, delayed or leased.
//     RequeueDead adds it again.
//
//   - Dead letters. A task goes to the dead-letter list with a reason: the release's
//     Error, "lease expired" for a reclaim, or "dead-lettered" when none is given.
//     Its job record becomes dead. A DeadLetter settlement leaves the attempt count
//     as it was. RequeueDead puts it at the tail of its queue with Attempt 0 and its
//     job record pending, keeping the record's EndedAt and LastError as they were.
//
//   - Job records. Enqueue writes pending; Dequeue sets running and StartedAt; Ack
//     sets the final status and EndedAt; Release and reclaim set pending (or dead)
//     and Attempts. A record in a final status expires JobTTL after EndedAt.
//
//   - Counters. Enqueued counts tasks enqueued, Delivered leases handed out, Acked
//     acks, Released releases (dead-lettering ones included), Reclaimed expired
//     leases put back or dead-lettered, Dead tasks sent to the dead-letter list.

// HousekeepingBatch is the most delayed tasks, and the most expired leases, that one
// housekeeping round may move.
const HousekeepingBatch = 1000

// DedupeCap is the most answered tasks one round of a Dequeue drops (Dedupe).
const DedupeCap = 1000
