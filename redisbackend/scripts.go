package redisbackend

import (
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts, one per state change (scripts/*.lua). Each opens with a comment
// listing its KEYS and ARGV. Scripts that touch a namespace's tasks share the KEYS
// layout of scripts/common.lua, which they include where they say --@common, and
// first run housekeeping (backend/doc.go). Times come from the server's TIME.
//
// A script that includes common.lua runs one of two ways (functions.go): as a
// function of one Redis 7 function library that holds them all, where the server
// takes FUNCTION LOAD, or else by EVALSHA, with common.lua spliced in. The library
// spares each call the definitions of common.lua, which cost a third of a small
// script's time.
//
//go:embed scripts/*.lua
var scriptFS embed.FS

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
)

// script is one of scripts/*.lua.
type script struct {
	eval *redis.Script // the script for EVALSHA, common.lua spliced in
	fn   string        // its function in the library, or "" (no common.lua)
	// ro, for the scripts that only read (readOnly), is the same script without
	// housekeeping, which writes: a function flagged no-writes, and a script that
	// never writes for EVALSHA. A server out of memory refuses every function that
	// may write, and a script at its first write; it runs these (oom.go).
	ro *script
	// durable is set for the scripts that wait for replicas under
	// Options.WaitReplicas (durable.go).
	durable bool
}

// readOnly names the scripts that change nothing but through housekeeping.
// getanswer writes when asked to refresh; its read-only twin is only used for
// plain reads.
var readOnly = map[string]bool{"stats": true, "peek": true, "leases": true, "dead": true, "job": true, "getanswer": true}

const commonMark = "--@common\n"

// libraryName and library are the function library: common.lua, then each script
// that includes it as a function that calls begin(KEYS) and runs the script's
// body. The name carries a hash of the code, so that builds of keyq with other
// scripts keep their own functions on a shared server.
var libraryName, library = buildLibrary()

func readScript(name string) string {
	src, err := scriptFS.ReadFile("scripts/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	return string(src)
}

// loadScript reads scripts/<name>.lua and splices in scripts/common.lua.
func loadScript(name string) *script {
	src := readScript(name)
	if !strings.Contains(src, commonMark) {
		return &script{eval: redis.NewScript(src), durable: durableScripts[name]}
	}
	common := readScript("common")
	s := &script{
		eval:    redis.NewScript(strings.Replace(src, commonMark, common+"begin(KEYS)\n", 1)),
		fn:      libraryName + "_" + name,
		durable: durableScripts[name],
	}
	if readOnly[name] {
		s.ro = &script{
			eval: redis.NewScript(strings.Replace(src, commonMark, common+"begin(KEYS, true)\n", 1)),
			fn:   libraryName + "_" + name + "_ro",
		}
	}
	return s
}

func buildLibrary() (name, code string) {
	files, err := fs.Glob(scriptFS, "scripts/*.lua")
	if err != nil {
		panic(err)
	}
	slices.Sort(files)
	var body strings.Builder
	body.WriteString(readScript("common"))
	for _, f := range files {
		n := strings.TrimSuffix(path.Base(f), ".lua")
		src := readScript(n)
		if n == "common" || !strings.Contains(src, commonMark) {
			continue
		}
		// The name is filled in below, once the code's hash is known.
		body.WriteString("redis.register_function('%NAME%_" + n + "', function(KEYS, ARGV)\nbegin(KEYS)\n")
		body.WriteString(strings.Replace(src, commonMark, "", 1))
		body.WriteString("\nend)\n")
		if readOnly[n] {
			body.WriteString("redis.register_function{function_name='%NAME%_" + n + "_ro', flags={'no-writes'},\n" +
				"callback=function(KEYS, ARGV)\nbegin(KEYS, true)\n")
			body.WriteString(strings.Replace(src, commonMark, "", 1))
			body.WriteString("\nend}\n")
		}
	}
	sum := sha1.Sum([]byte(body.String()))
	name = "keyq_" + hex.EncodeToString(sum[:8])
	return name, "#!lua name=" + name + "\n" + strings.ReplaceAll(body.String(), "%NAME%", name)
}
