package lua

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// The scripts live in a directory (redisbackend/scripts): one file <name>.lua per
// script, and the code they share in common/, split by concern. A script that
// says --@common on a line of its own includes the common code there: the
// prelude, then CommonFiles in order, then begin(KEYS). For EVAL, only the part
// of it the script reaches (prune.go).

// CommonFiles are the files of common/, in the order they are joined: each uses
// only what the prelude and the files before it define.
var CommonFiles = []string{
	"begin",        // the KEYS, per-call state, time, numbers, wake-ups, epochs, requests
	"codec",        // packed fields, blobs, lease records
	"answers",      // answer keys and TTLs
	"jobs",         // job records
	"leases",       // lease buckets and groups, finding and dropping a lease
	"keyindex",     // the key index of unique enqueues
	"housekeeping", // dead letters, putting tasks back, promoting and reclaiming
	"acks",         // acking leases in groups
}

const commonMark = "--@common\n"

// A script may run others as parts: a line --@part NAME, after --@common, makes
// NAME.lua's body a local function part_NAME(KEYS, ARGV) that calls begin, as a
// part, with the KEYS it is given, and returns what the script would. The parts
// share the call's begin: its time, and the state the first part reads. The parts
// of a script for EVAL are defined where their lines are; in the function library
// once, before the functions, as the functions run them (Library).
const partMark = "--@part "

// partBegin is the begin call of a part.
const partBegin = "begin(KEYS, false, false, true)\n"

// parts returns the definitions of the parts src names, and src without its part
// lines.
func parts(fsys fs.FS, src string) (defs, rest string, err error) {
	var d, r strings.Builder
	for line := range strings.SplitAfterSeq(src, "\n") {
		name, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), partMark)
		if !ok {
			r.WriteString(line)
			continue
		}
		b, err := fs.ReadFile(fsys, name+".lua")
		if err != nil {
			return "", "", fmt.Errorf("lua: part %s: %w", name, err)
		}
		body := string(b)
		if !Includes(body) || strings.Contains(body, partMark) {
			return "", "", fmt.Errorf("lua: part %s must include the common code and have no parts", name)
		}
		d.WriteString("local function part_" + name + "(KEYS, ARGV)\n")
		d.WriteString(strings.Replace(body, commonMark, partBegin, 1))
		d.WriteString("\nend\n")
	}
	return d.String(), r.String(), nil
}

// Source returns the script name.lua of fsys as Script takes it: its parts'
// definitions written in after --@common.
func Source(fsys fs.FS, name string) (string, error) {
	b, err := fs.ReadFile(fsys, name+".lua")
	if err != nil {
		return "", err
	}
	defs, rest, err := parts(fsys, string(b))
	if err != nil || defs == "" {
		return string(b), err
	}
	return strings.Replace(rest, commonMark, commonMark+defs, 1), nil
}

// NoWrites names the scripts that only read: they never housekeep, are
// registered as functions flagged no-writes and run by FCALL_RO, so a server out
// of memory (noeviction) or a read-only replica runs them.
var NoWrites = map[string]bool{"stats": true, "peek": true, "leases": true, "dead": true, "job": true, "delayed": true}

// Twins names the scripts that write only when asked to (getanswer refreshes a
// TTL on request): each also has a read-only twin, flagged no-writes, that skips
// housekeeping, for plain reads on a server that refuses writes.
var Twins = map[string]bool{"getanswer": true}

// Includes reports whether a script's source includes the common code.
func Includes(src string) bool { return strings.Contains(src, commonMark) }

// Common returns the code that a script including the common code starts with:
// the prelude, then the files of common/ in the order of CommonFiles. It fails
// when common/ holds a file CommonFiles does not name, so none is left out.
func Common(fsys fs.FS) (string, error) {
	files, err := fs.Glob(fsys, "common/*.lua")
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if !slices.Contains(CommonFiles, strings.TrimSuffix(path.Base(f), ".lua")) {
			return "", fmt.Errorf("lua: %s is not in CommonFiles", f)
		}
	}
	var b strings.Builder
	b.WriteString(Prelude())
	for _, n := range CommonFiles {
		src, err := fs.ReadFile(fsys, "common/"+n+".lua")
		if err != nil {
			return "", err
		}
		b.Write(src)
	}
	return b.String(), nil
}

// Script returns the source of a script for EVAL: src with the part of common
// it reaches spliced in where it says --@common (prune.go), and begin called, for
// a read-only twin with ro set. Code that cannot be scanned (an unfinished
// string) gets the whole of common, for the server to report. A script without
// the mark is returned as it is.
func Script(common, src string, ro bool) string {
	if !Includes(src) {
		return src
	}
	call := "begin(KEYS)\n"
	if ro {
		call = "begin(KEYS, true)\n"
	}
	if s, err := prune(common, src, call); err == nil {
		return s
	}
	return strings.Replace(src, commonMark, common+call, 1)
}

// Function returns the name of a script's function in the library lib, or of
// its read-only twin.
func Function(lib, script string, ro bool) string {
	if ro {
		return lib + "_" + script + "_ro"
	}
	return lib + "_" + script
}

// Library returns the function library's name and code: the common code, then
// each script that includes it as a function that calls begin and runs the
// script's body; NoWrites scripts and Twins' twins are flagged no-writes. The
// name carries a hash of the code, so that builds of keyq with other scripts keep
// their own functions on a shared server.
func Library(fsys fs.FS) (name, code string, err error) {
	common, err := Common(fsys)
	if err != nil {
		return "", "", err
	}
	files, err := fs.Glob(fsys, "*.lua")
	if err != nil {
		return "", "", err
	}
	slices.Sort(files)
	var body strings.Builder
	body.WriteString(common)
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return "", "", err
		}
		defs, src, err := parts(fsys, string(b))
		if err != nil {
			return "", "", err
		}
		if !Includes(src) {
			continue
		}
		// Parts are defined once, at the top, where the functions see them.
		body.WriteString(defs)
		n := strings.TrimSuffix(path.Base(f), ".lua")
		register := func(ro, noWrites bool) {
			// The name is filled in below, once the code's hash is known.
			fn := Function("%NAME%", n, ro)
			if noWrites {
				body.WriteString("redis.register_function{function_name='" + fn +
					"', flags={'no-writes'}, callback=function(KEYS, ARGV)\n")
			} else {
				body.WriteString("redis.register_function('" + fn + "', function(KEYS, ARGV)\n")
			}
			// begin's third argument says that the code outlives the call.
			call := "begin(KEYS, false, true)\n"
			if ro {
				call = "begin(KEYS, true, true)\n"
			}
			body.WriteString(strings.Replace(src, commonMark, call, 1))
			if noWrites {
				body.WriteString("\nend}\n")
			} else {
				body.WriteString("\nend)\n")
			}
		}
		register(false, NoWrites[n])
		if Twins[n] {
			register(true, true)
		}
	}
	sum := sha1.Sum([]byte(body.String()))
	name = "keyq_" + hex.EncodeToString(sum[:8])
	return name, "#!lua name=" + name + "\n" + strings.ReplaceAll(body.String(), "%NAME%", name), nil
}
