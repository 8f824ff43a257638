package lua

import (
	"context"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"

	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// globals compiles code with gopher-lua (the Lua 5.1 that miniredis runs), whose
// compiler resolves each name to a local, an upvalue or a global as Redis's Lua
// does, and returns the globals the code reads or writes: a definition that
// pruning dropped while the code still uses it shows up here as a new global.
func globals(t *testing.T, name, code string) map[string]bool {
	t.Helper()
	chunk, err := parse.Parse(strings.NewReader(code), name)
	if err != nil {
		t.Fatalf("%s does not parse: %v", name, err)
	}
	proto, err := glua.Compile(chunk, name)
	if err != nil {
		t.Fatalf("%s does not compile: %v", name, err)
	}
	out := map[string]bool{}
	var walk func(p *glua.FunctionProto)
	walk = func(p *glua.FunctionProto) {
		for _, inst := range p.Code {
			if op := int(inst >> 26); op == glua.OP_GETGLOBAL || op == glua.OP_SETGLOBAL {
				out[p.Constants[inst&0x3ffff].String()] = true
			}
		}
		for _, f := range p.FunctionPrototypes {
			walk(f)
		}
	}
	walk(proto)
	return out
}

// full is Script without pruning: src with the whole of common spliced in.
func full(common, src string, ro bool) string {
	call := "begin(KEYS)\n"
	if ro {
		call = "begin(KEYS, true)\n"
	}
	return strings.Replace(src, commonMark, common+call, 1)
}

// TestPrunedScriptsUseNoNewGlobals: each script for EVAL, and each read-only
// twin, pruned of the common code it does not reach, uses no global the whole
// script does not, so it lost no definition it needs on any path, and it is
// shorter. The scripts' own tests (scripts_test.go) run the pruned scripts by
// EVAL on miniredis and a real server, and the library by FCALL.
func TestPrunedScriptsUseNoNewGlobals(t *testing.T) {
	common, err := Common(scripts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := split(common); err != nil {
		t.Fatalf("the common code does not scan, so no script is pruned: %v", err)
	}
	files, err := fs.Glob(scripts, "*.lua")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := Source(scripts, strings.TrimSuffix(f, ".lua"))
		if err != nil {
			t.Fatal(err)
		}
		if !Includes(src) {
			continue
		}
		n := strings.TrimSuffix(path.Base(f), ".lua")
		for _, ro := range []bool{false, true} {
			whole, pruned := full(common, src, ro), Script(common, src, ro)
			if len(pruned) >= len(whole) {
				t.Errorf("%s (ro %v): pruned script of %d bytes, the whole one %d", n, ro, len(pruned), len(whole))
			}
			want := globals(t, n, whole)
			for g := range globals(t, n+" pruned", pruned) {
				if !want[g] {
					t.Errorf("%s (ro %v): the pruned script reads global %q: a definition it needs was dropped", n, ro, g)
				}
			}
		}
	}
}

// lateCommon is common code for the tests below: the script reaches late, defined
// last, which needs mid, then early, then the layout's LB, and a table T.
const lateCommon = `local K, T
local function begin(keys) K = keys; T = {} end
-- unused() is never called, and its name only in comments and strings.
local function unused() return 'unused' end
local function early(x) return x + LB end
local NOT_USED = 'not used'
local function mid(x) T[1] = x; return early(x) end
local function late(x)
  return mid(x) * 2
end
`

// TestPruneKeepsLateHelpers: a script that calls a helper defined last gets it
// and all it needs, transitively and in the order of the common code, and runs;
// what it does not reach is left out, names in comments and strings included.
func TestPruneKeepsLateHelpers(t *testing.T) {
	common := Prelude() + lateCommon
	src := "-- calls late\n--@common\n-- not unused()\nlocal s = 'unused()'\nreturn {late(1), K[1], T[1], s}\n"
	code := Script(common, src, false)
	for _, want := range []string{"local function late", "local function mid", "local function early", "local K, T", "local function begin"} {
		if !strings.Contains(code, want) {
			t.Errorf("the pruned script lacks %q:\n%s", want, code)
		}
	}
	for _, gone := range []string{"local function unused", "NOT_USED", "local B_FLAGS", "local LB"} {
		if strings.Contains(code, gone) {
			t.Errorf("the pruned script keeps %q:\n%s", gone, code)
		}
	}
	if i, j := strings.Index(code, "function early"), strings.Index(code, "function late"); i > j {
		t.Errorf("early comes after late:\n%s", code)
	}
	if g := globals(t, "late", code); len(g) != 1 || !g["KEYS"] {
		t.Errorf("the pruned script reads globals %v, want only KEYS:\n%s", g, code)
	}
	each(t, func(t *testing.T, e *env) {
		if e.fn {
			t.Skip("EVAL only: the library is not pruned")
		}
		v, err := e.c.Eval(context.Background(), code, e.keys).Result()
		if err != nil {
			t.Fatalf("EVAL: %v\n%s", err, code)
		}
		r := list(t, v)
		if len(r) != 4 || num(t, r[0]) != 2*(1+LeaseBucket) || r[1] != e.keys[0] || num(t, r[2]) != 1 || r[3] != "unused()" {
			t.Errorf("reply %v, want {%d, %q, 1, unused()}", r, 2*(1+LeaseBucket), e.keys[0])
		}
	})
}

// TestPruneKeepsStatements: a top-level statement that is not a plain
// definition (a call, an assignment, a local set by a call) is kept in every
// script with what it needs, even when the script names nothing it defines.
func TestPruneKeepsStatements(t *testing.T) {
	common := `local K
local function begin(keys) K = keys end
local n = 0
local function count() n = n + 1 end
count()
local started = redis.call('TIME')
local function helper() return 1 end
helper()
`
	code := Script(common, "--@common\nreturn 1\n", false)
	for _, want := range []string{"local n = 0", "local function count", "count()", "local started = redis.call", "local function helper", "helper()"} {
		if !strings.Contains(code, want) {
			t.Errorf("the pruned script lacks %q:\n%s", want, code)
		}
	}
	if g := globals(t, "statements", code); len(g) != 2 || !g["redis"] || !g["KEYS"] {
		t.Errorf("globals %v, want redis and KEYS:\n%s", g, code)
	}
}

// TestPruneInlinesLiterals: a kept local defined once by a number or a string
// is written in where it is read, and its definition left out; one that is
// assigned, declared again, a parameter, or read before its definition, stays a
// local. A field of the same name is left alone.
func TestPruneInlinesLiterals(t *testing.T) {
	common := `local function early() return LATE end
local WIDTH = 16
local NAME = 'q:'
local HEX = 0x10
local SET = 1
local function set() SET = 2 end
local SHADOWED = 3
local function shadow(SHADOWED) return SHADOWED end
local LOOPED = 4
local function loop() for LOOPED = 1, 2 do end return LOOPED end
local LATE = 5
local CMP = 6
local function begin(keys)
  local t = {}
  return WIDTH..NAME, t.WIDTH, HEX, SET, SHADOWED, LOOPED, LATE, CMP == 6, CMP <= 6, early, set, shadow, loop
end
`
	code := Script(common, "--@common\nreturn {WIDTH, NAME}\n", false)
	for _, gone := range []string{"local WIDTH", "local NAME", "local HEX", "local CMP"} {
		if strings.Contains(code, gone) {
			t.Errorf("%q is still defined:\n%s", gone, code)
		}
	}
	for _, want := range []string{"local SET = 1", "local SHADOWED = 3", "local LOOPED = 4", "local LATE = 5",
		"return 16 ..'q:', t.WIDTH, 0x10, SET", "6 == 6, 6 <= 6", "return {16, 'q:'}"} {
		if !strings.Contains(code, want) {
			t.Errorf("the script lacks %q:\n%s", want, code)
		}
	}
	if g := globals(t, "inline", code); !slices.Equal(sortedKeys(g), []string{"KEYS", "LATE"}) {
		t.Errorf("globals %v, want KEYS and LATE (read before its definition, as in the whole code)", sortedKeys(g))
	}
}

// TestPruneFallsBack: code that cannot be scanned (an unfinished string, an end
// too many) gets the whole common code, for the server to report.
func TestPruneFallsBack(t *testing.T) {
	common := "local function begin(keys) end\nlocal function unused() end\n"
	for _, src := range []string{"--@common\nreturn 'unfinished\n", "--@common\nreturn [==[ unfinished ]]\n"} {
		if got := Script(common, src, false); got != full(common, src, false) {
			t.Errorf("Script of %q:\n%s\nwant the whole common code", src, got)
		}
	}
	bad := common + "end\n"
	if got := Script(bad, "--@common\nreturn 1\n", false); got != full(bad, "--@common\nreturn 1\n", false) {
		t.Errorf("Script with unbalanced common code:\n%s\nwant the whole of it", got)
	}
}

// TestTokens: strings, long strings and comments hide what they hold.
func TestTokens(t *testing.T) {
	src := "a = 'b -- c' .. \"d\\\"e\" --[==[ f ]] g ]==] h [[ i ]] --[[ j ]] k -- l\n1e-5 0xe-1 x..y"
	toks, err := tokens(src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range toks {
		got = append(got, tk.text)
	}
	want := []string{"a", "=", "'b -- c'", ".", ".", `"d\"e"`, "h", "[[ i ]]", "k", "1e-5", "0xe", "-", "1", "x", ".", ".", "y"}
	if !slices.Equal(got, want) {
		t.Errorf("tokens %q, want %q", got, want)
	}
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// mainLocals returns how many locals the main chunk of code declares, those of
// its nested blocks included: at least as many as are live at once there.
func mainLocals(t *testing.T, name, code string) int {
	t.Helper()
	chunk, err := parse.Parse(strings.NewReader(code), name)
	if err != nil {
		t.Fatalf("%s does not parse: %v", name, err)
	}
	proto, err := glua.Compile(chunk, name)
	if err != nil {
		t.Fatalf("%s does not compile: %v", name, err)
	}
	return len(proto.DbgLocals)
}

// TestLocalsBelowLimit: Lua 5.1 compiles no function with more than 200 live
// locals (LUAI_MAXVARS), and the common code's definitions are all locals of
// the main chunk: of the library's, which holds them all, and of each script's
// for EVAL, which holds those it reaches.
func TestLocalsBelowLimit(t *testing.T) {
	const limit = 200
	_, lib, err := Library(scripts)
	if err != nil {
		t.Fatal(err)
	}
	_, lib, _ = strings.Cut(lib, "\n") // the #!lua line, which only Redis reads
	if n := mainLocals(t, "library", lib); n >= limit {
		t.Errorf("the library's main chunk declares %d locals, Lua's limit is %d", n, limit)
	} else {
		t.Logf("the library's main chunk declares %d locals", n)
	}
	common, err := Common(scripts)
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(scripts, "*.lua")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := Source(scripts, strings.TrimSuffix(f, ".lua"))
		if err != nil {
			t.Fatal(err)
		}
		n := mainLocals(t, f, Script(common, src, false))
		t.Logf("%s for EVAL declares %d locals in its main chunk", f, n)
		if n >= limit {
			t.Errorf("%s for EVAL declares %d locals in its main chunk, Lua's limit is %d", f, n, limit)
		}
	}
}
