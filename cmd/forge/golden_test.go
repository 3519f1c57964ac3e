package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
)

// Golden files live in testdata/golden. Rewrite them with
//
//	go test ./cmd/forge -run TestGolden -update
//
// (or FORGE_UPDATE_GOLDEN=1). The flag is registered only if no other test
// file of this package registered one first.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/golden")
	}
}

func updateGoldens() bool {
	if os.Getenv("FORGE_UPDATE_GOLDEN") == "1" {
		return true
	}
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// layeredCLI is a forge home built through the CLI itself:
//
//	GLOBAL/3.12   six 1.16.0
//	base          sciplot 1.0 (numpy<2; tomli on Python < 3.11; extras-demo[dev]>=0.2),
//	              numpy 1.26.4, extras-demo 0.3 ([dev] requires colorama)
//	app (on base) numpy 2.0.0, colorama 0.4.6
type layeredCLI struct {
	home, wheels string
}

func newLayeredCLI(t *testing.T) *layeredCLI {
	t.Helper()
	s, exe := newEmptyCLI(t)
	whl := func(w fixtures.Wheel) string { return fixtures.WriteWheel(t, s.wheels, w) }
	steps := [][]string{
		{"create", "base", "--python", exe, "--without-pip"},
		{"create", "app", "--parent", "base", "--without-pip"},
		{"install", "--env", "app", "--global", whl(fixtures.PurePackage("six", "1.16.0"))},
		{"install", "--env", "base",
			whl(fixtures.PurePackage("sciplot", "1.0", fixtures.WithRequires("numpy<2", `tomli; python_version < "3.11"`, "extras-demo[dev]>=0.2"))),
			whl(fixtures.PurePackage("numpy", "1.26.4")),
			whl(fixtures.PurePackage("extras-demo", "0.3", fixtures.WithExtra("dev", "colorama>=0.4")))},
		{"install", "--env", "app", whl(fixtures.PurePackage("numpy", "2.0.0")), whl(fixtures.PurePackage("colorama", "0.4.6"))},
	}
	for _, args := range steps {
		if out, errOut, code := s.run(args...); code != 0 {
			t.Fatalf("forge %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	return s
}

// newEmptyCLI returns a forge home with no environment yet and an empty
// wheel directory, and the Python 3.12 interpreter to create environments
// with; it skips the test where there is no Python 3.12.
func newEmptyCLI(t *testing.T) (*layeredCLI, string) {
	t.Helper()
	exe, err := probe.FindPython("3.12")
	if err != nil {
		t.Skipf("no Python 3.12 interpreter on this machine: %v", err)
	}
	return &layeredCLI{home: t.TempDir(), wheels: t.TempDir()}, exe
}

// run calls Main with --home set and returns stdout, stderr and the exit code.
func (s *layeredCLI) run(args ...string) (string, string, int) {
	return forgeRunner(s.home)(args...)
}

// forgeRunner returns a function that calls Main with --home home and
// returns stdout, stderr and the exit code.
func forgeRunner(home string) func(args ...string) (string, string, int) {
	return func(args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := Main(append([]string{"--home", home}, args...), &out, &errOut)
		return out.String(), errOut.String(), code
	}
}

var (
	sha256Re      = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
	pyPatchRe     = regexp.MustCompile(`\b3\.12\.[0-9]+\b`)
	trailingSpace = regexp.MustCompile(`(?m)[ \t]+$`)
)

// normalise replaces what differs between runs and machines: the forge home
// and wheel directory, sha256 digests, and the patch level of Python.
func (s *layeredCLI) normalise(out string) string {
	out = strings.ReplaceAll(out, s.home, "$FORGE_HOME")
	out = strings.ReplaceAll(out, s.wheels, "$WHEELS")
	out = sha256Re.ReplaceAllString(out, "<sha256>")
	out = pyPatchRe.ReplaceAllString(out, "3.12.x")
	return trailingSpace.ReplaceAllString(out, "")
}

// checkGolden compares got with the golden file testdata/DIR/NAME; with
// -update (or FORGE_UPDATE_GOLDEN=1) it writes got there instead.
func checkGolden(t *testing.T, dir, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", dir, name)
	if updateGoldens() {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// goldenStep is one forge command line of a golden test and what it must
// give: the exit code, a substring of stderr ("" = any) and the golden file
// under testdata/golden its normalised stdout must match ("" = none).
type goldenStep struct {
	name   string
	args   []string
	code   int
	golden string
	stderr string
}

// runSteps runs each step in order as a subtest and checks its exit code,
// its stderr and, normalised by norm, its stdout against the golden file.
func (s *layeredCLI) runSteps(t *testing.T, steps []goldenStep, norm func(string) string) {
	t.Helper()
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			out, errOut, code := s.run(st.args...)
			if code != st.code {
				t.Fatalf("forge %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(st.args, " "), code, st.code, out, errOut)
			}
			if st.stderr != "" && !strings.Contains(errOut, st.stderr) {
				t.Errorf("stderr %q does not contain %q", errOut, st.stderr)
			}
			if st.golden != "" {
				checkGolden(t, "golden", st.golden, norm(out))
			}
		})
	}
}

func TestGoldenOutputs(t *testing.T) {
	s := newLayeredCLI(t)
	steps := []goldenStep{
		{name: "tree", args: []string{"tree", "--env", "app"}, golden: "tree_app.txt"},
		{name: "tree of the parent", args: []string{"tree", "--env", "base"}, golden: "tree_base.txt"},
		{name: "tree as dot", args: []string{"tree", "--env", "app", "--dot"}, golden: "tree_app.dot"},
		{name: "tree strict", args: []string{"tree", "--env", "app", "--mode", "strict", "--quiet"}, code: exitRefused, stderr: "shadow"},
		{name: "tree dot and json", args: []string{"tree", "--env", "app", "--dot", "--json"}, code: exitUsage, stderr: "exclude"},
		{name: "inspect winner shadows parent", args: []string{"inspect", "numpy", "--env", "app"}, golden: "inspect_numpy_app.txt"},
		{name: "inspect strict", args: []string{"inspect", "numpy", "--env", "app", "--mode", "strict"}, code: exitRefused, golden: "inspect_numpy_app_strict.txt", stderr: "strict mode: 1 dependency conflict"},
		{name: "inspect loose", args: []string{"inspect", "numpy", "--env", "app", "--mode", "loose"}, golden: "inspect_numpy_app_loose.txt"},
		{name: "inspect warn enforced", args: []string{"inspect", "numpy", "--env", "app", "--enforce"}, code: exitRefused, stderr: "--enforce"},
		{name: "inspect GLOBAL", args: []string{"inspect", "six", "--env", "app"}, golden: "inspect_six_app.txt"},
		{name: "inspect requirer", args: []string{"inspect", "sciplot", "--env", "app"}, golden: "inspect_sciplot_app.txt"},
		{name: "inspect unknown package", args: []string{"inspect", "pandas", "--env", "app"}, code: exitError, stderr: "pandas is not installed in any layer of app"},
		{name: "inspect invalid mode", args: []string{"inspect", "numpy", "--env", "app", "--mode", "lenient"}, code: exitUsage, stderr: "loose, warn, strict"},
		{name: "inspect without env", args: []string{"inspect", "numpy"}, code: exitUsage, stderr: "env"},
		{name: "env get defaults", args: []string{"env", "get", "app"}, golden: "env_get_defaults.txt"},
		{name: "env set policy", args: []string{"env", "set", "app", "abi_policy", "strict_abi"}, golden: "env_set_policy.txt"},
		{name: "env set resolver mode", args: []string{"env", "set", "app", "resolver_mode", "strict", "--quiet"}},
		{name: "env get", args: []string{"env", "get", "app"}, golden: "env_get.txt"},
		{name: "env get one key", args: []string{"env", "get", "app", "abi_policy"}, golden: "env_get_key.txt"},
		{name: "setting makes inspect strict", args: []string{"inspect", "numpy", "--env", "app", "--quiet"}, code: exitRefused, stderr: "strict mode"},
		{name: "env unset", args: []string{"env", "unset", "app", "resolver_mode", "--quiet"}},
		{name: "env set unknown key", args: []string{"env", "set", "app", "colour", "blue"}, code: exitUsage, stderr: "valid keys are abi_policy, auto_snapshots, distutils_shim, link_mode, resolver_mode"},
		{name: "env set invalid value", args: []string{"env", "set", "app", "link_mode", "reflink"}, code: exitUsage, stderr: "valid values are symlink, hardlink, copy"},
		{name: "env get unknown key", args: []string{"env", "get", "app", "colour"}, code: exitUsage, stderr: "valid keys"},
		{name: "env get unknown env", args: []string{"env", "get", "nope"}, code: exitError, stderr: "environment nope"},
		{name: "env set missing value", args: []string{"env", "set", "app", "abi_policy"}, code: exitUsage},
		{name: "envs", args: []string{"envs"}, golden: "envs.txt"},
		{name: "env rm parent refused", args: []string{"env", "rm", "base"}, code: exitError, stderr: "has child environments app: remove them first"},
		{name: "env rm", args: []string{"env", "rm", "app"}, golden: "env_rm_app.txt"},
		{name: "envs after rm", args: []string{"envs"}, golden: "envs_after_rm.txt"},
	}
	s.runSteps(t, steps, s.normalise)
}

// jsonShape names the JSON type each key of a document must have:
// "string", "bool", "number", "array", "object" or "string?" (string or
// null / absent).
type jsonShape map[string]string

func checkShape(t *testing.T, where string, v any, shape jsonShape) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: %T, want a JSON object", where, v)
	}
	for k, want := range shape {
		got, present := m[k]
		if strings.HasSuffix(want, "?") {
			if !present || got == nil {
				continue
			}
			want = strings.TrimSuffix(want, "?")
		} else if !present {
			t.Errorf("%s: key %q missing", where, k)
			continue
		}
		if kind := jsonKind(got); kind != want {
			t.Errorf("%s: %q is %s (%v), want %s", where, k, kind, got, want)
		}
	}
	return m
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	case float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return "unknown"
}

func eachItem(t *testing.T, where string, v any, shape jsonShape) []map[string]any {
	t.Helper()
	arr, ok := v.([]any)
	if !ok {
		t.Fatalf("%s: %T, want a JSON array", where, v)
	}
	var out []map[string]any
	for i, it := range arr {
		out = append(out, checkShape(t, fmt.Sprintf("%s[%d]", where, i), it, shape))
	}
	return out
}

var (
	effectiveShape = jsonShape{"name": "string", "normalized": "string", "version": "string", "layer": "string", "layer_kind": "string",
		"entry": "string", "requested": "bool", "reason": "string", "shadowed_sources": "array"}
	sourceShape   = jsonShape{"layer": "string", "layer_kind": "string", "version": "string", "entry": "string"}
	conflictShape = jsonShape{"package": "string", "requirement": "string", "required_by": "string", "required_by_layer": "string",
		"found": "string", "found_layer": "string", "message": "string", "kind": "string"}
	settingShape = jsonShape{"key": "string", "value": "string", "source": "string", "valid_values": "array"}
)

func TestJSONSchemas(t *testing.T) {
	s := newLayeredCLI(t)
	decode := func(t *testing.T, wantCode int, args ...string) any {
		t.Helper()
		out, errOut, code := s.run(append(args, "--json")...)
		if code != wantCode {
			t.Fatalf("forge %s --json: exit %d, want %d\n%s", strings.Join(args, " "), code, wantCode, errOut)
		}
		dec := json.NewDecoder(strings.NewReader(out))
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, out)
		}
		if dec.More() {
			t.Fatalf("stdout holds more than one JSON document:\n%s", out)
		}
		return v
	}
	t.Run("inspect", func(t *testing.T) {
		for _, tc := range []struct {
			mode string
			code int
		}{{"warn", 0}, {"strict", exitRefused}, {"loose", 0}} {
			v := decode(t, tc.code, "inspect", "numpy", "--env", "app", "--mode", tc.mode)
			shape := jsonShape{"env": "string", "python_version": "string", "mode": "string", "layer_key": "string", "path": "string",
				"requires": "array", "conflicts": "array"}
			for k, v := range effectiveShape {
				shape[k] = v
			}
			m := checkShape(t, "inspect", v, shape)
			if m["mode"] != tc.mode || m["layer"] != "app" || m["layer_kind"] != "LOCAL" || m["version"] != "2.0.0" {
				t.Errorf("inspect --mode %s: %v", tc.mode, m)
			}
			src := eachItem(t, "shadowed_sources", m["shadowed_sources"], sourceShape)
			if len(src) != 1 || src[0]["layer"] != "base" || src[0]["layer_kind"] != "PARENT" {
				t.Errorf("shadowed_sources %v", m["shadowed_sources"])
			}
			cs := eachItem(t, "conflicts", m["conflicts"], conflictShape)
			if wantN := map[string]int{"warn": 1, "strict": 1, "loose": 0}[tc.mode]; len(cs) != wantN {
				t.Errorf("%s: %d conflicts, want %d", tc.mode, len(cs), wantN)
			}
			if len(cs) > 0 && cs[0]["kind"] != "shadow_breaks_parent" {
				t.Errorf("conflict kind %v", cs[0]["kind"])
			}
		}
	})
	t.Run("inspect error", func(t *testing.T) {
		v := decode(t, exitError, "inspect", "pandas", "--env", "app")
		checkShape(t, "error", v, jsonShape{"error": "string", "exit_code": "number"})
	})
	t.Run("tree", func(t *testing.T) {
		m := checkShape(t, "tree", decode(t, 0, "tree", "--env", "app"), jsonShape{"env": "string", "python_version": "string", "mode": "string",
			"layers": "array", "effective": "array", "edges": "array", "conflicts": "array"})
		layers := eachItem(t, "layers", m["layers"], jsonShape{"name": "string", "key": "string", "kind": "string", "path": "string", "packages": "array"})
		if len(layers) != 3 {
			t.Fatalf("%d layers", len(layers))
		}
		for _, l := range layers {
			eachItem(t, "packages", l["packages"], jsonShape{"name": "string", "normalized": "string", "version": "string", "entry": "string",
				"link_mode": "string", "state": "string", "requested": "bool", "requires": "array", "winner": "bool", "shadowed_by": "string?"})
		}
		eachItem(t, "effective", m["effective"], effectiveShape)
		eachItem(t, "edges", m["edges"], jsonShape{"from": "string", "from_layer": "string", "to": "string", "to_layer": "string", "requirement": "string", "conflict": "string?"})
		eachItem(t, "conflicts", m["conflicts"], conflictShape)
	})
	t.Run("env get and set", func(t *testing.T) {
		for _, args := range [][]string{{"env", "get", "app"}, {"env", "get", "app", "link_mode"}, {"env", "set", "app", "link_mode", "copy"}, {"env", "unset", "app", "link_mode"}} {
			m := checkShape(t, strings.Join(args, " "), decode(t, 0, args...), jsonShape{"env": "string", "settings": "array"})
			items := eachItem(t, "settings", m["settings"], settingShape)
			if len(args) > 3 && (len(items) != 1 || items[0]["key"] != "link_mode") {
				t.Errorf("%v: settings %v", args, items)
			}
		}
	})
	t.Run("envs", func(t *testing.T) {
		m := checkShape(t, "envs", decode(t, 0, "envs"), jsonShape{"envs": "array"})
		items := eachItem(t, "envs", m["envs"], jsonShape{"name": "string", "path": "string", "parent": "string", "python": "string",
			"python_version": "string", "packages": "number", "settings": "object"})
		if len(items) != 2 || items[0]["name"] != "app" || items[0]["packages"] != 2.0 {
			t.Errorf("envs %v", items)
		}
	})
	t.Run("env rm", func(t *testing.T) {
		m := checkShape(t, "env rm", decode(t, 0, "env", "rm", "app"), jsonShape{"env": "string", "path": "string", "unlinked": "array", "notes": "array"})
		eachItem(t, "unlinked", m["unlinked"], jsonShape{"name": "string", "version": "string", "entry": "string", "layer": "string"})
	})
	t.Run("changelog", func(t *testing.T) {
		items := eachItem(t, "changelog", decode(t, 0, "changelog"), jsonShape{"version": "string", "date": "string", "changes": "array"})
		if len(items) == 0 {
			t.Fatal("no releases")
		}
		for _, it := range items {
			for _, c := range it["changes"].([]any) {
				if _, ok := c.(string); !ok {
					t.Errorf("change %v is not a string", c)
				}
			}
		}
	})
}

// TestChangelogCopyMatchesRoot keeps the embedded copy identical to the
// repository's CHANGELOG.md (//go:embed cannot reach the parent directory).
func TestChangelogCopyMatchesRoot(t *testing.T) {
	root, err := os.ReadFile(filepath.Join("..", "..", "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	if string(root) != changelogText {
		t.Fatal("cmd/forge/CHANGELOG.md differs from CHANGELOG.md: run cp CHANGELOG.md cmd/forge/CHANGELOG.md")
	}
}

func TestParseChangelog(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []Release
	}{
		{
			name: "keep a changelog",
			text: "# Changelog\n\nintro\n\n## [Unreleased]\n\n### Added\n- one\n  continued\n- two\n\n### Fixed\n* three\n\n## [1.0.0] - 2026-01-02\n- plain\n",
			want: []Release{
				{Version: "Unreleased", Changes: []string{"Added: one continued", "Added: two", "Fixed: three"}},
				{Version: "1.0.0", Date: "2026-01-02", Changes: []string{"plain"}},
			},
		},
		{
			name: "parenthesised date",
			text: "## 0.2.0 (2025-12-31)\n- x\n",
			want: []Release{{Version: "0.2.0", Date: "2025-12-31", Changes: []string{"x"}}},
		},
		{name: "no releases", text: "# Changelog\n- stray\n", want: []Release{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseChangelog(tt.text)
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].Version != tt.want[i].Version || got[i].Date != tt.want[i].Date || !slices.Equal(got[i].Changes, tt.want[i].Changes) {
					t.Errorf("release %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	t.Run("embedded file parses", func(t *testing.T) {
		rs := parseChangelog(changelogText)
		if len(rs) == 0 || len(rs[0].Changes) == 0 {
			t.Fatalf("embedded changelog has no changes: %+v", rs)
		}
		for _, r := range rs {
			if r.Version != "Unreleased" && r.Date == "" {
				t.Errorf("release %s has no date", r.Version)
			}
		}
	})
}

func FuzzParseChangelog(f *testing.F) {
	f.Add(changelogText)
	f.Add("## [1.0.0] - 2026-01-02\n### Added\n- a\n  b\n")
	f.Add("## \n- \n")
	f.Fuzz(func(t *testing.T, text string) {
		for _, r := range parseChangelog(text) {
			if r.Version == "" || r.Changes == nil {
				t.Errorf("release %+v from %q", r, text)
			}
		}
	})
}
