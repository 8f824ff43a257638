package redisbackend

import (
	"embed"
	"io/fs"

	"github.com/keyq/keyq/redisbackend/internal/lua"
	"github.com/redis/go-redis/v9"
)

// The Lua scripts, one per state change (scripts/*.lua). Each opens with a comment
// listing its KEYS and ARGV. Scripts that touch a namespace's tasks share the KEYS
// of scripts/common/begin.lua and the code of scripts/common, which internal/lua
// joins after a prelude generated from the storage layout (internal/lua/layout.go)
// and splices in where a script says --@common; those that change state first run
// housekeeping (backend/doc.go). Times come from the server's TIME.
//
// A script that includes the common code runs one of two ways (functions.go): as
// a function of one Redis 7 function library that holds them all, where the
// server takes FUNCTION LOAD, or else by EVALSHA (Redis 6.2, KeyDB), with the
// common code spliced in. The library defines the common code once, when it
// loads; a script for EVALSHA defines its share on every call, so it holds only
// the definitions it reaches, and the layout's constants written in
// (internal/lua/prune.go).
//
//go:embed scripts/*.lua scripts/common/*.lua
var scriptFS embed.FS

// scriptDir is scripts/, as internal/lua reads it.
var scriptDir = must(fs.Sub(scriptFS, "scripts"))

// commonCode is the code spliced in where a script says --@common, of which a
// script for EVALSHA keeps what it reaches (lua.Script).
var commonCode = must(lua.Common(scriptDir))

var (
	scriptEnqueue    = loadScript("enqueue")
	scriptDequeue    = loadScript("dequeue")
	scriptSettle     = loadScript("settle")
	scriptExtend     = loadScript("extend")
	scriptReclaim    = loadScript("reclaim")
	scriptStats      = loadScript("stats")
	scriptPeek       = loadScript("peek")
	scriptLeases     = loadScript("leases")
	scriptDead       = loadScript("dead")
	scriptDeadAction = loadScript("deadaction")
	scriptGetAnswer  = loadScript("getanswer")
	scriptSetAnswer  = loadScript("setanswer")
	scriptDelAnswer  = loadScript("delanswer")
	scriptJob        = loadScript("job")
	scriptAllow      = loadScript("allow")
	scriptPause      = loadScript("pause")
	scriptCancel     = loadScript("cancel")
	scriptDelayed    = loadScript("delayed")
	scriptListen     = loadScript("listen")
	scriptExchange   = loadScript("exchange")
)

// script is one of scripts/*.lua.
type script struct {
	eval *redis.Script // the script for EVALSHA, with the common code it reaches
	fn   string        // its function in the library, or "" (no common code)
	// noWrites is set for the scripts that only read (lua.NoWrites): their
	// function is flagged no-writes and runs by FCALL_RO; by EVALSHA they are
	// scripts without flags that never write. A server out of memory, or a
	// read-only replica, runs both.
	noWrites bool
	// ro, for the scripts that write only on request (lua.Twins), is the same
	// script without housekeeping, which writes: a function flagged no-writes,
	// and a script that never writes for EVALSHA. A server out of memory refuses
	// every function that may write, and a script at its first write; it runs
	// these (oom.go).
	ro *script
	// durable is set for the scripts that wait for replicas under
	// Options.WaitReplicas (durable.go).
	durable bool
}

// libraryName and library are the function library (lua.Library).
var libraryName, library = buildLibrary()

func buildLibrary() (name, code string) {
	name, code, err := lua.Library(scriptDir)
	if err != nil {
		panic(err)
	}
	return name, code
}

// loadScript reads scripts/<name>.lua and splices in the common code it reaches.
func loadScript(name string) *script {
	src := must(lua.Source(scriptDir, name))
	if !lua.Includes(src) {
		return &script{eval: redis.NewScript(src), durable: durableScripts[name]}
	}
	s := &script{
		eval:     redis.NewScript(lua.Script(commonCode, src, false)),
		fn:       lua.Function(libraryName, name, false),
		noWrites: lua.NoWrites[name],
		durable:  durableScripts[name],
	}
	if lua.Twins[name] {
		s.ro = &script{
			eval:     redis.NewScript(lua.Script(commonCode, src, true)),
			fn:       lua.Function(libraryName, name, true),
			noWrites: true,
		}
	}
	return s
}

// must returns v, and panics on err: for what the package needs at init.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
