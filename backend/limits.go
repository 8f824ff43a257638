package backend

import "time"

// The limits every driver accepts, the same on every backend. Validate refuses
// what is beyond them with ErrInvalid, so no driver has to guess what a duration
// near math.MaxInt64 means or overflow converting it.
const (
	// MaxDuration is the longest delay, lease, wait, answer TTL, job TTL or rate
	// interval: 100 years (365-day years). Durations are kept in whole
	// milliseconds, rounded up (Millis), so a positive duration is at least 1 ms.
	MaxDuration = 100 * 365 * 24 * time.Hour

	// MaxCount is the largest Count of a Dequeue and the most items of one
	// Settle or Extend. The Count of Peek, Leases and Dead, and their Offset, may be
	// larger: drivers return the window that exists.
	MaxCount = 100_000
)

// Millis returns d in whole milliseconds, rounded up: the granularity of every
// duration a driver keeps. An answer's TTL reads back as Millis(TTL)
// milliseconds on every backend, and a lease or delay lasts at least d, perhaps
// up to a millisecond longer. d must be in 0 to MaxDuration.
func Millis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// RoundUp returns d rounded up to a whole millisecond (Millis).
func RoundUp(d time.Duration) time.Duration {
	return time.Duration(Millis(d)) * time.Millisecond
}

func checkMax(what string, d time.Duration) error {
	if d > MaxDuration {
		return invalid("%s %v is over the maximum %v", what, d, MaxDuration)
	}
	return nil
}
