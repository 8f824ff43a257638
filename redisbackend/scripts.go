package redisbackend

import (
	"embed"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts, one per state change (scripts/*.lua). Each opens with a comment
// listing its KEYS and ARGV. Scripts that touch a namespace's tasks share the KEYS
// layout of scripts/common.lua, which they include where they say --@common, and
// first run housekeeping (backend/doc.go). Times come from the server's TIME.
//
//go:embed scripts/*.lua
var scriptFS embed.FS

var (
	scriptEnqueue    = loadScript("enqueue")
	scriptDequeue    = loadScript("dequeue")
	scriptAck        = loadScript("ack")
	scriptRelease    = loadScript("release")
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
)

// loadScript reads scripts/<name>.lua and splices in scripts/common.lua.
func loadScript(name string) *redis.Script {
	src, err := scriptFS.ReadFile("scripts/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	common, err := scriptFS.ReadFile("scripts/common.lua")
	if err != nil {
		panic(err)
	}
	return redis.NewScript(strings.Replace(string(src), "--@common\n", string(common), 1))
}
