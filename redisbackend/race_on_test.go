//go:build race

package redisbackend

// raceEnabled reports whether the race detector is on: it slows miniredis's Lua
// about tenfold, and the longest tests size themselves down under it.
const raceEnabled = true
