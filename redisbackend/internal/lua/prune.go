package lua

import (
	"errors"
	"strings"
	"sync"
)

// Pruning. A script for EVALSHA runs the whole of its text on every call, the
// common code included: each `local function` there makes a closure on each call,
// whether the script uses it or not, and each local a closure captures is an
// upvalue that Lua 5.1 finds by walking the list of those already made
// (luaF_findupval), so the cost grows with the count of both. A Redis 7 function
// library makes them once, when it loads. So Script splices in only the part of
// the common code a script reaches: the common code is cut into its top-level
// statements, each with the comment lines above it (chunks); a chunk that is a
// plain definition (`local function f`, or `local a, b = <expressions that call
// nothing>`) is kept only when the script or a kept chunk mentions a name it
// defines; any other statement is always kept. Kept chunks keep their order, so
// every name still means what it meant in the whole code. Then each kept local
// defined once by a number or a string (the prelude's layout constants) that is
// never assigned or declared again is written in where it is read, so that no
// closure captures it.
//
// Mentions are found by a small scanner that knows Lua's strings and comments and
// nothing of its grammar: a name in a comment or a string does not count, and any
// other word that spells a defined name does, even where it is a table field or a
// shadowing local. The scan may so keep more than needed, never less; code it
// cannot scan gets the whole common code.

// A chunk is one top-level statement of the common code, with the comment and
// blank lines above it.
type chunk struct {
	text string
	defs []string // the locals it defines, when it is a plain definition
	refs []string // every name it mentions
	keep bool     // not a plain definition: kept in every script
	toks []token  // its tokens, their offsets in text
	// literal is, for `local NAME = <number or string>`, the literal.
	literal string
}

// A token is a name, a number, a string or one punctuation byte; comments are
// skipped.
type token struct {
	kind       byte // 'n' name or keyword, '0' number, 's' string, else the byte itself
	text       string
	start, end int  // offsets in the source
	nl         bool // a line ends between the token before and this one
}

var errScan = errors.New("lua: cannot scan the common code")

// keywords are Lua 5.1's reserved words.
var keywords = map[string]bool{
	"and": true, "break": true, "do": true, "else": true, "elseif": true, "end": true,
	"false": true, "for": true, "function": true, "if": true, "in": true, "local": true,
	"nil": true, "not": true, "or": true, "repeat": true, "return": true, "then": true,
	"true": true, "until": true, "while": true,
}

// tokens scans src. It fails on an unfinished string or long comment, where the
// scan cannot know what is code.
func tokens(src string) ([]token, error) {
	var out []token
	i, last := 0, 0 // last: the end of the token before
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v':
			i++
			continue
		case c == '-' && strings.HasPrefix(src[i:], "--"):
			if n := longBracket(src[i+2:]); n > 0 {
				end := closeLong(src, i+2, n)
				if end < 0 {
					return nil, errScan
				}
				i = end
			} else if nl := strings.IndexByte(src[i:], '\n'); nl >= 0 {
				i += nl
			} else {
				i = len(src)
			}
			continue
		}
		t := token{start: i, nl: strings.IndexByte(src[last:i], '\n') >= 0}
		switch {
		case isNameStart(c):
			j := i + 1
			for j < len(src) && (isNameStart(src[j]) || isDigit(src[j])) {
				j++
			}
			t.kind, i = 'n', j
		case isDigit(c) || c == '.' && i+1 < len(src) && isDigit(src[i+1]):
			hex := strings.HasPrefix(src[i:], "0x") || strings.HasPrefix(src[i:], "0X")
			j := i + 1
			for j < len(src) && (isNameStart(src[j]) || isDigit(src[j]) || src[j] == '.' ||
				!hex && (src[j] == '+' || src[j] == '-') && (src[j-1] == 'e' || src[j-1] == 'E')) {
				j++
			}
			t.kind, i = '0', j
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' {
					j++
				} else if src[j] == '\n' {
					return nil, errScan
				}
				j++
			}
			if j >= len(src) {
				return nil, errScan
			}
			t.kind, i = 's', j+1
		case c == '[' && longBracket(src[i:]) > 0:
			end := closeLong(src, i, longBracket(src[i:]))
			if end < 0 {
				return nil, errScan
			}
			t.kind, i = 's', end
		default:
			t.kind, i = c, i+1
		}
		t.end = i
		t.text = src[t.start:t.end]
		last = i
		out = append(out, t)
	}
	return out, nil
}

// longBracket returns the length of the long bracket [[, [=[, [==[ ... that s
// starts with, or 0.
func longBracket(s string) int {
	if len(s) == 0 || s[0] != '[' {
		return 0
	}
	j := 1
	for j < len(s) && s[j] == '=' {
		j++
	}
	if j < len(s) && s[j] == '[' {
		return j + 1
	}
	return 0
}

// closeLong returns the offset just past the long bracket that closes the one
// of length n at src[at:], or -1.
func closeLong(src string, at, n int) int {
	closer := "]" + strings.Repeat("=", n-2) + "]"
	k := strings.Index(src[at+n:], closer)
	if k < 0 {
		return -1
	}
	return at + n + k + len(closer)
}

func isNameStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool     { return '0' <= c && c <= '9' }

// depthOf returns how much a token opens (+1) or closes (-1) a block or a
// bracket.
func depthOf(t token) int {
	switch t.kind {
	case 'n':
		switch t.text {
		case "function", "do", "if", "repeat":
			return 1
		case "end", "until":
			return -1
		}
	case '(', '{', '[':
		return 1
	case ')', '}', ']':
		return -1
	}
	return 0
}

// split cuts the common code into its chunks. A chunk starts at each `local`
// that begins a line outside any block or bracket, and takes the comment and
// blank lines above it.
func split(common string) ([]chunk, error) {
	toks, err := tokens(common)
	if err != nil {
		return nil, err
	}
	var out []chunk
	from, depth := 0, 0 // from: the first token of the current chunk
	cut := func(to int) {
		if from == to {
			return
		}
		c := classify(toks[from:to])
		start := 0
		if from > 0 {
			start = lineEnd(common, toks[from-1].end)
		}
		end := len(common)
		if to < len(toks) {
			end = lineEnd(common, toks[to-1].end)
		}
		c.text = common[start:end]
		for _, t := range toks[from:to] {
			t.start, t.end = t.start-start, t.end-start
			c.toks = append(c.toks, t)
		}
		out = append(out, c)
		from = to
	}
	for i, t := range toks {
		if depth == 0 && t.kind == 'n' && t.text == "local" && t.nl {
			cut(i)
		}
		depth += depthOf(t)
		if depth < 0 {
			return nil, errScan
		}
	}
	cut(len(toks))
	if depth != 0 {
		return nil, errScan
	}
	return out, nil
}

// lineEnd returns the offset just past the end of the line that offset i is on.
func lineEnd(s string, i int) int {
	if k := strings.IndexByte(s[i:], '\n'); k >= 0 {
		return i + k + 1
	}
	return len(s)
}

// classify finds what a chunk's tokens define and mention, and whether it is a
// plain definition: `local function f ... end`, or `local a, b` with or
// without `= <expressions>` that call nothing, all on its first line or within
// its brackets, with nothing after it.
func classify(toks []token) chunk {
	c := chunk{keep: true}
	for _, t := range toks {
		if t.kind == 'n' && !keywords[t.text] {
			c.refs = append(c.refs, t.text)
		}
	}
	if len(toks) < 2 || toks[0].text != "local" {
		return c
	}
	if len(toks) == 4 && toks[1].kind == 'n' && !keywords[toks[1].text] && toks[2].kind == '=' &&
		(toks[3].kind == '0' || toks[3].kind == 's') {
		c.literal = toks[3].text
	}
	if toks[1].text == "function" {
		if len(toks) < 3 || toks[2].kind != 'n' {
			return c
		}
		depth := 0
		for i, t := range toks[1:] {
			depth += depthOf(t)
			if depth == 0 {
				if i+2 == len(toks) { // the function's end is the chunk's last token
					c.defs, c.keep = []string{toks[2].text}, false
				}
				return c
			}
		}
		return c
	}
	i := 1
	var defs []string
	for i < len(toks) && toks[i].kind == 'n' && !keywords[toks[i].text] {
		defs = append(defs, toks[i].text)
		i++
		if i < len(toks) && toks[i].kind == ',' {
			i++
			continue
		}
		break
	}
	if len(defs) == 0 {
		return c
	}
	if i < len(toks) && toks[i].kind == '=' {
		depth := 0
		for i++; i < len(toks); i++ {
			t, prev := toks[i], toks[i-1]
			if mayCall(prev, t) || t.kind == 'n' && t.text == "function" {
				return c
			}
			depth += depthOf(t)
			if depth == 0 && (i+1 == len(toks) || toks[i+1].nl) {
				i++
				break
			}
		}
	}
	if i == len(toks) {
		c.defs, c.keep = defs, false
	}
	return c
}

// mayCall reports whether t, after prev, may start the arguments of a call:
// f(...), f'...', f{...}, or a method call a:b.
func mayCall(prev, t token) bool {
	callee := prev.kind == 'n' && !keywords[prev.text] || prev.kind == ')' || prev.kind == ']' || prev.kind == 's'
	return callee && (t.kind == '(' || t.kind == 's' || t.kind == '{') || t.kind == ':'
}

// prune returns the script for EVAL that src makes: the code before the mark,
// the chunks of common that the rest of src and call reach, in their order, call,
// then the rest of src. A kept definition of one name by one literal (`local PAD
// = 16`) that nothing declares or assigns again is not kept but written in where
// the name is read (inline): every local the script defines is a slot that a
// closure capturing it pays for on each call. prune fails when the code cannot
// be scanned.
func prune(common, src, call string) (string, error) {
	chunks, err := parsed(common)
	if err != nil {
		return "", err
	}
	pre, post, ok := strings.Cut(src, commonMark)
	if !ok {
		return src, nil
	}
	preToks, err := tokens(pre)
	if err != nil {
		return "", err
	}
	postToks, err := tokens(post)
	if err != nil {
		return "", err
	}
	callToks, err := tokens(call)
	if err != nil {
		return "", err
	}
	definedBy := map[string][]int{}
	for i, c := range chunks {
		for _, d := range c.defs {
			definedBy[d] = append(definedBy[d], i)
		}
	}
	kept := make([]bool, len(chunks))
	var todo []string
	for _, ts := range [][]token{preToks, postToks, callToks} {
		for _, t := range ts {
			if t.kind == 'n' {
				todo = append(todo, t.text)
			}
		}
	}
	for i, c := range chunks {
		if c.keep {
			kept[i] = true
			todo = append(todo, c.refs...)
		}
	}
	for len(todo) > 0 {
		name := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for _, i := range definedBy[name] {
			if !kept[i] {
				kept[i] = true
				todo = append(todo, chunks[i].refs...)
			}
		}
	}

	// What to inline: each name defined once, by a literal, and after that only
	// read, never before.
	inline := map[string]string{}
	for i, c := range chunks {
		if kept[i] && c.literal != "" && len(definedBy[c.defs[0]]) == 1 {
			inline[c.defs[0]] = c.literal
		}
	}
	for _, n := range bound(preToks) {
		delete(inline, n)
	}
	for _, t := range preToks {
		delete(inline, t.text) // read before its definition: a global
	}
	for _, n := range bound(postToks) {
		delete(inline, n)
	}
	seen := map[string]bool{} // names whose definition came
	for i, c := range chunks {
		if !kept[i] {
			continue
		}
		if c.literal != "" {
			seen[c.defs[0]] = true
			continue
		}
		for _, n := range bound(c.toks) {
			delete(inline, n)
		}
		for _, n := range c.refs {
			if !seen[n] {
				delete(inline, n)
			}
		}
	}

	var b strings.Builder
	b.WriteString(pre)
	for i, c := range chunks {
		if !kept[i] || c.literal != "" && inline[c.defs[0]] != "" {
			continue
		}
		subst(&b, c.text, c.toks, inline)
	}
	b.WriteString(call)
	subst(&b, post, postToks, inline)
	return b.String(), nil
}

// subst writes text, whose tokens are toks, with each name that inline holds,
// where it is read as a variable (not as a field after . or :), replaced by its
// literal.
func subst(b *strings.Builder, text string, toks []token, inline map[string]string) {
	at := 0
	for i, t := range toks {
		lit, ok := inline[t.text]
		if !ok || t.kind != 'n' {
			continue
		}
		if i > 0 && (toks[i-1].kind == ':' || toks[i-1].kind == '.' && (i < 2 || toks[i-2].kind != '.' || toks[i-2].end != toks[i-1].start)) {
			continue // a field: t.NAME or t:NAME
		}
		b.WriteString(text[at:t.start])
		b.WriteString(lit)
		if t.end < len(text) && text[t.end] == '.' {
			b.WriteByte(' ') // 16..x would scan as one malformed number
		}
		at = t.end
	}
	b.WriteString(text[at:])
}

// bound returns the names that toks declare or assign: after local or for, in
// a function's parameters, and before an = that is not ==. A table field
// {NAME = v} or t.NAME = v counts too, which only keeps more.
func bound(toks []token) []string {
	var out []string
	for i, t := range toks {
		if t.kind != 'n' {
			continue
		}
		switch {
		case t.text == "local" || t.text == "for":
			for _, u := range toks[i+1:] {
				if u.kind == ',' || u.kind == 'n' && u.text == "function" {
					continue
				}
				if u.kind != 'n' || keywords[u.text] {
					break
				}
				out = append(out, u.text)
			}
		case t.text == "function":
			j := i + 1
			for j < len(toks) && toks[j].kind != '(' {
				j++
			}
			for j++; j < len(toks) && toks[j].kind != ')'; j++ {
				if toks[j].kind == 'n' {
					out = append(out, toks[j].text)
				}
			}
		case !keywords[t.text]:
			j := i + 1
			for j+1 < len(toks) && toks[j].kind == ',' && toks[j+1].kind == 'n' {
				j += 2
			}
			if j < len(toks) && toks[j].kind == '=' && (j+1 == len(toks) || toks[j+1].kind != '=') {
				out = append(out, t.text)
			}
		}
	}
	return out
}

// split's results by common code: the scripts of a package share one.
var splitCache sync.Map // string -> splitResult

type splitResult struct {
	chunks []chunk
	err    error
}

func parsed(common string) ([]chunk, error) {
	if r, ok := splitCache.Load(common); ok {
		return r.(splitResult).chunks, r.(splitResult).err
	}
	c, err := split(common)
	splitCache.Store(common, splitResult{c, err})
	return c, err
}
