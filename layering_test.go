package forge_test

// The tests in this package guard the shape of the repository, not its
// behaviour: which package may import which (TestLayering), how complex a
// function may grow (TestComplexity) and how long a file (TestFileSize).
// They read the source with go/parser and run with `go test ./...`.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// layerRules says which forge packages each forge package may import, from
// its non-test files. Paths are relative to the module; "x/..." matches x
// and everything under it. Every package must match a rule: a new package
// is one new line. Leaf packages under internal/ (rule "internal/...") may
// be imported by any package and import no forge package themselves.
var layerRules = []struct {
	pkg string
	may []string
}{
	// The engines: no forge package below them.
	{"abi", []string{"wheel"}},
	{"wheel", nil},
	{"resolver", nil},
	{"internal/...", nil},
	// What reads the host, the store and environments on disk.
	{"probe", []string{"abi", "wheel"}},
	{"store", []string{"abi", "wheel"}},
	{"linker", []string{"abi", "wheel"}},
	{"lockfile", []string{"abi", "resolver", "wheel"}},
	{"sbom", []string{"abi", "wheel"}},
	// The one package that ties them together, and its only users.
	{"workspace", []string{"abi", "linker", "lockfile", "probe", "resolver", "sbom", "store", "wheel"}},
	// Its command packages: each builds on the core; doctor also runs
	// reproduce's repair of an interrupted rollback. Only cmd imports them.
	{"workspace/abireport", []string{"abi", "lockfile", "probe", "store", "wheel", "workspace"}},
	{"workspace/reproduce", []string{"abi", "linker", "lockfile", "probe", "store", "wheel", "workspace"}},
	{"workspace/doctor", []string{"abi", "linker", "probe", "store", "wheel", "workspace", "workspace/reproduce"}},
	{"workspace/gc", []string{"workspace"}},
	{"workspace/inspect", []string{"linker", "resolver", "store", "wheel", "workspace"}},
	{"workspace/pipshim", []string{"abi", "resolver", "store", "wheel", "workspace"}},
	{"workspace/internal/wstest", []string{"abi", "fixtures", "lockfile", "probe", "store", "workspace", "workspace/gc"}},
	{"cmd/...", []string{"abi", "linker", "lockfile", "probe", "resolver", "sbom", "store", "wheel", "workspace", "workspace/abireport", "workspace/doctor", "workspace/gc", "workspace/inspect", "workspace/pipshim", "workspace/reproduce"}},
	// Test support, benchmarks and end-to-end suites: they drive the forge
	// binary or the lower packages, never workspace.
	{"fixtures", []string{"abi", "probe", "wheel", "fixtures/realstack"}},
	{"fixtures/realstack", nil},
	{"fixtures/cmd/...", []string{"fixtures", "fixtures/realstack", "probe"}},
	{"bench", []string{"fixtures"}},
	{"reliability", []string{"fixtures", "probe", "store"}},
	{"reliability/...", []string{"reliability"}},
	{"e2e", nil},
	{"e2e/lifecycle", nil},
	{"e2e/realstack", []string{"abi", "fixtures/realstack"}},
	{"e2e/realstack/cmd/...", []string{"e2e/realstack", "probe"}},
}

// layerExceptions are imports the rules forbid that exist today, each with
// the reason it is tolerated. The test fails when one is no longer needed:
// delete its line.
var layerExceptions = []struct {
	from, to, why string
}{
	{"linker", "probe", "CreateVenv and LauncherNames take a *probe.Interp; they need only its paths and version, which could be a linker type"},
}

// modulePath is the module line of go.mod.
func modulePath(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatal("go.mod has no module line")
	return ""
}

// sourceFiles are the repository's non-test .go files (slash paths relative
// to the module root), skipping testdata, vendor and hidden or _ directories
// as the go command does.
func sourceFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != "." && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			out = append(out, filepath.ToSlash(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no Go files found: is the test running in the module root?")
	}
	return out
}

// matchPkg reports whether package path pkg matches pattern.
func matchPkg(pattern, pkg string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

// ruleFor is the index of the most specific rule matching pkg, or -1: an
// exact rule, else the pattern with the longest base.
func ruleFor(pkg string) int {
	best, bestRank := -1, -1
	for i, r := range layerRules {
		if !matchPkg(r.pkg, pkg) {
			continue
		}
		base, pattern := strings.CutSuffix(r.pkg, "/...")
		rank := 2 * len(base)
		if !pattern {
			rank++
		}
		if rank > bestRank {
			best, bestRank = i, rank
		}
	}
	return best
}

// mayImport reports whether the rules let from import to.
func mayImport(from, to string) bool {
	if matchPkg("internal/...", to) && !matchPkg("internal/...", from) {
		return true
	}
	i := ruleFor(from)
	return i >= 0 && slices.ContainsFunc(layerRules[i].may, func(p string) bool { return matchPkg(p, to) })
}

// forgeImports maps each package (module-relative directory) to the forge
// packages its non-test files import, and each import to one file naming it.
func forgeImports(t *testing.T) map[string]map[string]string {
	t.Helper()
	mod := modulePath(t)
	out := map[string]map[string]string{}
	fset := token.NewFileSet()
	for _, file := range sourceFiles(t) {
		f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		pkg := filepath.ToSlash(filepath.Dir(file))
		if out[pkg] == nil {
			out[pkg] = map[string]string{}
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if rel, ok := strings.CutPrefix(path, mod+"/"); ok {
				out[pkg][rel] = file
			}
		}
	}
	return out
}

func TestLayering(t *testing.T) {
	imports := forgeImports(t)
	used := make([]bool, len(layerExceptions))
	var pkgs []string
	for pkg := range imports {
		pkgs = append(pkgs, pkg)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		if pkg == "." {
			t.Errorf("the module root holds non-test Go files: put them in a package and give it a rule")
			continue
		}
		if ruleFor(pkg) < 0 {
			t.Errorf("package %s has no rule: add a line to layerRules saying what it may import", pkg)
			continue
		}
		var tos []string
		for to := range imports[pkg] {
			tos = append(tos, to)
		}
		sort.Strings(tos)
		for _, to := range tos {
			if mayImport(pkg, to) {
				continue
			}
			i := slices.IndexFunc(layerExceptions, func(e struct{ from, to, why string }) bool { return e.from == pkg && e.to == to })
			if i >= 0 {
				used[i] = true
				continue
			}
			t.Errorf("%s imports %s (%s): layerRules forbid it", pkg, to, imports[pkg][to])
		}
	}
	for i, e := range layerExceptions {
		if !used[i] {
			t.Errorf("exception %s → %s is no longer needed: delete it from layerExceptions", e.from, e.to)
		}
	}
}

// TestLayeringRules checks the table itself against hand-made cases, so that
// a mistake in matching cannot make TestLayering pass vacuously.
func TestLayeringRules(t *testing.T) {
	tests := []struct {
		from, to string
		ok       bool
	}{
		{"abi", "wheel", true},
		{"abi", "store", false},
		{"abi", "internal/atomicfile", true},
		{"internal/atomicfile", "abi", false},
		{"internal/atomicfile", "internal/pyname", false},
		{"resolver", "abi", false},
		{"store", "probe", false},
		{"linker", "probe", false},
		{"store", "workspace", false},
		{"reliability", "workspace", false},
		{"cmd/forge", "workspace", true},
		{"workspace", "store", true},
		{"workspace/abireport", "workspace", true},
		{"workspace", "workspace/abireport", false},
		{"reliability/crash", "reliability", true},
		{"fixtures/cmd/demo-wheels", "fixtures", true},
		{"fixtures/realstack", "fixtures", false},
	}
	for _, tt := range tests {
		if got := mayImport(tt.from, tt.to); got != tt.ok {
			t.Errorf("mayImport(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.ok)
		}
	}
	if ruleFor("newpkg") >= 0 {
		t.Error("a package with no line in layerRules matched a rule")
	}
}

// parsedFiles parses every non-test file once for the complexity test.
func parsedFiles(t *testing.T) (*token.FileSet, map[string]*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	out := map[string]*ast.File{}
	for _, file := range sourceFiles(t) {
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		out[file] = f
	}
	return fset, out
}

func parserParse(src string) (*ast.File, error) {
	return parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
}
