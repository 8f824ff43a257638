package web

import (
	"encoding/hex"
	"html/template"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// previewLimit is how many payload bytes a page shows.
const previewLimit = 4096

// preview is a payload as a page shows it: as text when it is printable UTF-8,
// else as a hex dump. Either way the template escapes it.
type preview struct {
	Size      int
	Binary    bool
	Text      string
	Truncated bool
}

func previewOf(p []byte) preview {
	v := preview{Size: len(p)}
	if len(p) > previewLimit {
		p, v.Truncated = p[:previewLimit], true
	}
	if printable(p, v.Truncated) {
		v.Text = string(p)
		return v
	}
	v.Binary, v.Text = true, hex.Dump(p)
	return v
}

// printable reports whether p is UTF-8 text without control characters other
// than newlines and tabs. A truncated p may end inside a rune.
func printable(p []byte, truncated bool) bool {
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		if r == utf8.RuneError && n <= 1 {
			return truncated && len(p) < utf8.UTFMax && !utf8.FullRune(p)
		}
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
		p = p[n:]
	}
	return true
}

// short returns s cut to n runes, as text, for a table cell.
func short(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// textOf shows bytes as text when printable, else as a hex string, cut to n.
func textOf(p []byte, n int) string {
	if printable(p, false) {
		return short(string(p), n)
	}
	return short("0x"+hex.EncodeToString(p), n)
}

var funcs = template.FuncMap{
	"short": short,
	"bytes": func(p []byte) string { return textOf(p, 60) },
	"key":   func(s string) string { return textOf([]byte(s), 40) },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05.000Z")
	},
	"until": func(now, t time.Time) string {
		d := t.Sub(now).Round(100 * time.Millisecond)
		if d < 0 {
			return "overdue " + (-d).String()
		}
		return "in " + d.String()
	},
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.Sub(now).Round(time.Second).Abs().String() + " ago"
	},
	"join": strings.Join,
}
