package redisbackend

// A server at its maxmemory with the noeviction policy refuses writes with an
// OOM error, which the Backend reports as backend.ErrFull: the call changed
// nothing (isOOM in errors.go says why). Calls that only read keep working:
// Stats, Peek, Leases, Dead and Job run scripts that never write (lua.NoWrites),
// and GetAnswer without Refresh runs its script's read-only twin (script.ro) when
// the server refuses the script itself. The twin skips housekeeping, the only
// writing getanswer does unasked.
//
// With functions, those are functions flagged no-writes, which Redis 7 runs
// when out of memory. By EVALSHA (Redis 6.2, KeyDB, or Options.NoFunctions) they
// are scripts without flags that never write, which Redis runs too: it refuses a
// script without flags only at its first write.

// scriptGetAnswerRefresh is getanswer without its read-only twin: a refreshing
// read writes the answer's TTL, so out of memory it is refused with ErrFull.
var scriptGetAnswerRefresh = &script{eval: scriptGetAnswer.eval, fn: scriptGetAnswer.fn}
