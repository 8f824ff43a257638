//go:build !race

package redisbackend

const raceEnabled = false
