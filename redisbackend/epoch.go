package redisbackend

import (
	"math/rand/v2"
	"strconv"
)

// A task ID or lease token of this backend is "<epoch>-<n>": n is the number the
// namespace's sequence gave it, and the epoch is a random name of that sequence's
// life, stored beside it (scripts/common/begin.lua, Epochs). A store that loses its
// data, say a server restarted without persistence, starts its sequence at 1
// again under a new epoch, so an ID or token handed out before the loss never
// names a task or lease handed out after it: calls with one find nothing
// (backend.ErrLeaseLost, backend.ErrNotFound). Stored tasks and leases hold n
// alone; the epoch is added on the way out and checked once per call.

// epochLen is the width of an epoch: 8 characters of 5 random bits each.
const epochLen = 8

// noEpoch stands for the epoch of tasks read while the store has none (its epoch
// key was lost, or it never had one). newEpoch never makes it, so IDs shown with
// it name nothing.
const noEpoch = "00000000"

const epochDigits = "0123456789abcdefghijklmnopqrstuv"

// newEpoch returns a fresh random epoch, other than noEpoch. The sequence's epoch
// changes only when a call that takes numbers finds the sequence new, so a
// collision needs two of 2^40 names to meet at one namespace's data loss.
func newEpoch() string {
	for {
		x := rand.Uint64() // ChaCha8, seeded from the OS: unpredictable
		var b [epochLen]byte
		zero := true
		for i := range b {
			b[i] = epochDigits[x&31]
			zero = zero && x&31 == 0
			x >>= 5
		}
		if !zero {
			return string(b[:])
		}
	}
}

// splitID splits an ID or token of this backend into its epoch and its number,
// reporting whether it has that form.
func splitID(s string) (epoch, n string, ok bool) {
	if len(s) < epochLen+2 || s[epochLen] != '-' || !isDecimal(s[epochLen+1:]) {
		return "", "", false
	}
	return s[:epochLen], s[epochLen+1:], true
}

// idMaker formats IDs and tokens of one epoch.
type idMaker struct {
	buf []byte
	n   int // len(epoch) + 1
}

func newIDMaker(epoch string) idMaker {
	if len(epoch) != epochLen {
		epoch = noEpoch
	}
	buf := make([]byte, 0, epochLen+1+20)
	buf = append(append(buf, epoch...), '-')
	return idMaker{buf: buf, n: len(buf)}
}

// id returns the ID or token of number n.
func (m *idMaker) id(n int64) string {
	m.buf = strconv.AppendInt(m.buf[:m.n], n, 10)
	return string(m.buf)
}

// decimal returns the ID of the decimal number n.
func (m *idMaker) decimal(n string) string {
	m.buf = append(m.buf[:m.n], n...)
	return string(m.buf)
}

// leaseName splits a lease's token and its task's ID, which must share an epoch,
// into the epoch and the two numbers, reporting whether they can name a lease at
// all: a token fits in an int64 (its bucket is computed from it), and a task ID is
// at most 255 bytes (its length is one byte of the stored task).
func leaseName(token, taskID string) (epoch, tok, id string, ok bool) {
	e1, tok, ok1 := splitID(token)
	e2, id, ok2 := splitID(taskID)
	if !ok1 || !ok2 || e1 != e2 || len(id) > 255 {
		return "", "", "", false
	}
	if _, err := strconv.ParseInt(tok, 10, 64); err != nil {
		return "", "", "", false
	}
	return e1, tok, id, true
}
