package forge_test

import (
	"fmt"
	"go/ast"
	"go/token"
	"os"
	"sort"
	"strings"
	"testing"
)

// maxComplexity is the most cyclomatic complexity a non-test function may
// have, as gocyclo counts it.
const maxComplexity = 30

// complexityAllowlist are today's functions above maxComplexity
// ("package-directory function", function as gocyclo names it) with their
// complexity. It only shrinks: the test fails when one grows, when a
// function not listed goes over, and when a listed one is back under the
// limit (delete its line). Lower a number when you simplify a function.
var complexityAllowlist = map[string]int{}

// maxFileLines is the most lines a non-test .go file may have.
const maxFileLines = 800

// fileSizeAllowlist are today's longer files with their line counts; it
// shrinks like complexityAllowlist.
var fileSizeAllowlist = map[string]int{}

// cyclomatic is gocyclo's count: 1, plus one for each if, for, range,
// non-default case and select case, && and ||, including those of the
// function literals inside fn.
func cyclomatic(fn ast.Node) int {
	c := 1
	ast.Inspect(fn, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			c++
		case *ast.CaseClause:
			if n.List != nil {
				c++
			}
		case *ast.CommClause:
			if n.Comm != nil {
				c++
			}
		case *ast.BinaryExpr:
			if n.Op == token.LAND || n.Op == token.LOR {
				c++
			}
		}
		return true
	})
	return c
}

// recvName is a receiver type as gocyclo writes it: T or *T, without type
// parameters.
func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.StarExpr:
		return "*" + recvName(t.X)
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	}
	return "BADRECV"
}

// funcComplexities is every top-level function, method and package-level
// function literal of f, by gocyclo's name, with its complexity.
func funcComplexities(f *ast.File) map[string]int {
	out := map[string]int{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			name := d.Name.Name
			if d.Recv != nil && d.Recv.NumFields() > 0 {
				name = fmt.Sprintf("(%s).%s", recvName(d.Recv.List[0].Type), name)
			}
			out[name] = cyclomatic(d)
		case *ast.GenDecl:
			for _, s := range d.Specs {
				vs, ok := s.(*ast.ValueSpec)
				if !ok {
					continue
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.FuncLit); ok {
						out[vs.Names[0].Name] = cyclomatic(lit)
					}
				}
			}
		}
	}
	return out
}

// ratchet checks measured values against a limit and a shrinking
// allowlist; what names the kind of thing measured.
func ratchet(t *testing.T, what string, limit int, got, allow map[string]int) {
	t.Helper()
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n := got[k]
		max, listed := allow[k]
		switch {
		case n <= limit && listed:
			t.Errorf("%s %s is %d now, within the limit of %d: delete it from the allowlist", what, k, n, limit)
		case n <= limit:
		case !listed:
			t.Errorf("%s %s is %d, over the limit of %d: split it (the allowlist only shrinks)", what, k, n, limit)
		case n > max:
			t.Errorf("%s %s grew from %d to %d, over the limit of %d: split it", what, k, max, n, limit)
		case n < max:
			t.Logf("%s %s is %d, down from %d: lower its allowlist entry", what, k, n, max)
		}
	}
	for k := range allow {
		if _, ok := got[k]; !ok {
			t.Errorf("allowlisted %s %s no longer exists: delete it from the allowlist", what, k)
		}
	}
}

func TestComplexity(t *testing.T) {
	_, files := parsedFiles(t)
	got := map[string]int{}
	for file, f := range files {
		pkg := file[:max(strings.LastIndex(file, "/"), 0)]
		if pkg == "" {
			pkg = "."
		}
		for name, c := range funcComplexities(f) {
			if key := pkg + " " + name; c > got[key] {
				got[key] = c // the same name in two files of a package (build tags): the worst
			}
		}
	}
	ratchet(t, "function", maxComplexity, got, complexityAllowlist)
}

func TestFileSize(t *testing.T) {
	got := map[string]int{}
	for _, file := range sourceFiles(t) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		n := strings.Count(string(b), "\n")
		if len(b) > 0 && b[len(b)-1] != '\n' {
			n++
		}
		got[file] = n
	}
	ratchet(t, "file", maxFileLines, got, fileSizeAllowlist)
}

// TestCyclomaticCounts pins the counter to gocyclo's definition on a
// function written for it.
func TestCyclomaticCounts(t *testing.T) {
	src := `package p
func (s *S[T]) f(x int, c chan int) {
	if x > 0 && x < 9 || x == 20 { // if, &&, ||
	}
	for i := 0; i < x; i++ {} // for
	for range c {}            // range
	switch x {
	case 1, 2: // one
	case 3:    // one
	default:   // none
	}
	select {
	case <-c:  // one
	default:   // none
	}
	g := func() { if x == 1 {} } // a literal's if counts for f
	_ = g
}
var h = func() { for {} }
`
	f, err := parserParse(src)
	if err != nil {
		t.Fatal(err)
	}
	got := funcComplexities(f)
	want := map[string]int{"(*S).f": 1 + 1 + 2 + 1 + 1 + 2 + 1 + 1, "h": 2}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: complexity %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}
