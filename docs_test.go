package keyq_test

import (
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The checks in this file read the module's own sources and documents: the README,
// docs/semantics.md and every .go file, bench/peers (a module of its own) included.

// goFiles returns every .go file of the tree, by path from the module root, with
// testdata and hidden directories left out.
func goFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// readFile returns the text of the file at path from the module root.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestQuickStartMatchesREADME checks that the README's Quick start is the body of
// Example_quickStart, which go test compiles and runs: the snippet a reader copies
// is one that compiles, handles its errors and prints what its Output says.
func TestQuickStartMatchesREADME(t *testing.T) {
	readme := readFile(t, "README.md")
	_, section, ok := strings.Cut(readme, "\n## Quick start\n")
	if !ok {
		t.Fatal(`README.md has no "## Quick start" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "```go\n")
	if !ok {
		t.Fatal("README.md's Quick start has no ```go block")
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatal("README.md's Quick start block is not closed")
	}

	const file = "example_quickstart_test.go"
	src := readFile(t, file)
	f, err := parser.ParseFile(token.NewFileSet(), file, src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var body string
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "Example_quickStart" {
			// Offsets: the file set holds this one file only, based at 1.
			body = src[fn.Body.Lbrace : fn.Body.Rbrace-1]
		}
	}
	if body == "" {
		t.Fatalf("%s has no Example_quickStart", file)
	}

	got, want := dedent(block), dedent(body)
	if got != want {
		gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
		i := 0
		for i < min(len(gl), len(wl)) && gl[i] == wl[i] {
			i++
		}
		t.Errorf("README.md's Quick start and the body of Example_quickStart in %s differ from line %d:\nREADME: %q\nExample: %q\ncopy the Example's body into README.md",
			file, i+1, at(gl, i), at(wl, i))
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end)"
}

// dedent drops leading and trailing blank lines, trailing spaces, and the
// indentation that every non-blank line shares.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	indent := ""
	for i, l := range lines {
		if l == "" {
			continue
		}
		lead := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if i == 0 || len(lead) < len(indent) {
			indent = lead
		}
	}
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, indent)
	}
	return strings.Join(lines, "\n")
}

// TestPackageSynopses checks that every package has a doc comment attached to its
// package clause that go doc and go list show: "Package x ..." or "Command x ...".
func TestPackageSynopses(t *testing.T) {
	type pkg struct {
		name string
		docs []string
	}
	pkgs := map[string]*pkg{}
	for _, path := range goFiles(t) {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Dir(path)
		p := pkgs[dir]
		if p == nil {
			p = &pkg{name: f.Name.Name}
			pkgs[dir] = p
		}
		if f.Doc != nil {
			p.docs = append(p.docs, f.Doc.Text())
		}
	}
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages; is the test run from the module root?", len(pkgs))
	}
	for _, dir := range slices.Sorted(func(yield func(string) bool) {
		for d := range pkgs {
			if !yield(d) {
				return
			}
		}
	}) {
		p := pkgs[dir]
		want := "Package " + p.name + " "
		if p.name == "main" {
			want = "Command "
		}
		var syn []string
		for _, d := range p.docs {
			syn = append(syn, new(doc.Package).Synopsis(d))
		}
		switch {
		case len(syn) == 0 || syn[0] == "":
			t.Errorf("%s: package %s has no doc comment on its package clause (a blank line between comment and clause detaches it)", dir, p.name)
		case len(syn) > 1:
			t.Errorf("%s: package %s has %d package comments; keep one", dir, p.name, len(syn))
		case !strings.HasPrefix(syn[0], want):
			t.Errorf("%s: synopsis %q does not start with %q", dir, syn[0], want)
		}
	}
}

var (
	mdLink   = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdInText = regexp.MustCompile(`[\w./-]*\.md\b`)
	ruleNum  = regexp.MustCompile(`\bS(\d+)\.(\d+)\b`)
)

// TestDocLinksStayInRepo checks that the links of README.md and docs/, and the
// documents doc comments name, are files of this repository: a reader of the
// module has nothing else.
func TestDocLinksStayInRepo(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	inRepo := func(from, target string) bool {
		for _, base := range []string{filepath.Dir(from), "."} {
			p, err := filepath.Abs(filepath.Join(base, filepath.FromSlash(target)))
			if err != nil || !strings.HasPrefix(p, root+string(filepath.Separator)) {
				continue
			}
			if _, err := os.Stat(p); err == nil {
				return true
			}
		}
		return false
	}
	mds, _ := filepath.Glob("docs/*.md")
	for _, path := range append([]string{"README.md", "bench/peers/README.md"}, mds...) {
		for _, m := range mdLink.FindAllStringSubmatch(readFile(t, path), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if !inRepo(path, target) {
				t.Errorf("%s links %q, which is not a file of this repository", path, m[1])
			}
		}
	}
	for _, path := range goFiles(t) {
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, cg := range f.Comments {
			for _, name := range mdInText.FindAllString(cg.Text(), -1) {
				if !inRepo(path, name) {
					t.Errorf("%s: a comment names %q, which is not a file of this repository", path, name)
				}
			}
		}
	}
	if _, err := os.Stat("docs/semantics.md"); err != nil {
		t.Errorf("the contract, docs/semantics.md: %v", err)
	}
}

// TestRulesHaveTests checks that docs/semantics.md and the tests agree: every rule
// it numbers is named by a test, and every conformance test is named after a rule
// it numbers.
func TestRulesHaveTests(t *testing.T) {
	contract := readFile(t, "docs/semantics.md")
	rules := map[string]bool{}
	for _, line := range strings.Split(contract, "\n") {
		if m := regexp.MustCompile(`^- \*\*(S\d+\.\d+)\*\*`).FindStringSubmatch(line); m != nil {
			rules[m[1]] = true
		}
	}
	// The rules S1.1 to S10.2 the contract started with: how many each section has.
	for sec, n := range []int{5, 4, 6, 7, 4, 4, 3, 4, 3, 2} {
		for i := 1; i <= n; i++ {
			if r := fmt.Sprintf("S%d.%d", sec+1, i); !rules[r] {
				t.Errorf("docs/semantics.md does not number rule %s (a list item starting - **%s**)", r, r)
			}
		}
	}
	named := map[string]bool{}
	for _, path := range goFiles(t) {
		if !strings.HasSuffix(path, "_test.go") && !strings.HasPrefix(path, "conformance"+string(filepath.Separator)) {
			continue
		}
		src := readFile(t, path)
		for _, m := range ruleNum.FindAllString(src, -1) {
			named[m] = true
		}
		if strings.HasPrefix(path, "conformance") {
			for _, m := range regexp.MustCompile(`name:\s*"(S\d+\.\d+)`).FindAllStringSubmatch(src, -1) {
				if !rules[m[1]] {
					t.Errorf("%s: conformance test named after %s, which docs/semantics.md does not number (add it under \"Rules added since\" as a list item starting - **%s**)", path, m[1], m[1])
				}
			}
		}
	}
	for r := range rules {
		if !named[r] {
			t.Errorf("rule %s of docs/semantics.md is named by no test", r)
		}
	}
}

// TestPublicDocsSayWhatItDoes checks that the public documents (README.md,
// docs/semantics.md and the doc comments of the library's packages) describe
// behaviour in their own words, not by the names of the internal documents the
// project started from.
func TestPublicDocsSayWhatItDoes(t *testing.T) {
	banned := regexp.MustCompile(`(?i:\bseeds?\b|seed flow)|\.\./shared|SEMANTICS\.md`)
	check := func(where, text string) {
		if m := banned.FindString(text); m != "" {
			t.Errorf("%s says %q; describe the behaviour instead, and point to docs/semantics.md", where, m)
		}
	}
	check("README.md", readFile(t, "README.md"))
	check("docs/semantics.md", readFile(t, "docs/semantics.md"))
	for _, path := range goFiles(t) {
		if strings.HasSuffix(path, "_test.go") && !strings.Contains(filepath.Base(path), "example") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, cg := range f.Comments {
			check(path, cg.Text())
		}
	}
}
