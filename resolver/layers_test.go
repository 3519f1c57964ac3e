package resolver

// Resolver scenarios live in testdata/*.txt, one per file, in this line
// format (blank lines and lines starting with # are ignored; the first
// comment says what the scenario shows):
//
//	env KEY=VALUE...            marker variables (python_version=3.12 ...); may repeat
//	mode loose|warn|strict      conflict mode (default warn)
//	layer KIND NAME             starts a layer: KIND is LOCAL, PARENT or GLOBAL;
//	                            layers are listed most local first
//	  NAME VERSION [entry=E] [extras=a,b] [requested] [requires REQ]
//	                            an indented line: a package of the current layer;
//	                            "requires" takes the rest of the line as one
//	                            Requires-Dist
//	    requires REQ            a further Requires-Dist of the previous package
//	want NAME VERSION KIND [layer=L] [shadowed=L:V,L:V|none] [extras=a,b]
//	                            an effective package; the want lines must name
//	                            every effective package, no more
//	want-reason NAME TEXT       the exact reason of an effective package
//	want-conflict BY REQ [found=V] [found-layer=L] kind=K
//	                            a conflict: BY is the requirer, REQ the
//	                            requirement as written; no found= means the
//	                            package is missing. The want-conflict lines must
//	                            name every conflict, no more
//	want-err none|conflict      what Resolution.Err returns (default none)

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/forge-ml/forge/wheel"
)

type scenario struct {
	env       MarkerEnv
	mode      Mode
	layers    []Layer
	want      map[string]wantPackage
	reasons   map[string]string
	conflicts []wantConflict
	wantErr   bool
}

type wantPackage struct {
	version, kind, layer, shadowed, extras string
	hasLayer, hasShadowed, hasExtras       bool
}

type wantConflict struct {
	by, req, found, foundLayer, kind string
	hasFoundLayer                    bool
}

func parseScenario(t *testing.T, file string) scenario {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sc := scenario{
		env:     MarkerEnv{Vars: map[string]string{}},
		mode:    Warn,
		want:    map[string]wantPackage{},
		reasons: map[string]string{},
	}
	var lastPkg *Package
	for n, line := range strings.Split(string(data), "\n") {
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s:%d: %s", file, n+1, strings.TrimSpace(line)+": "+fmt.Sprintf(format, args...))
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indented := line[0] == ' ' || line[0] == '\t'
		if indented {
			if len(sc.layers) == 0 {
				fail("package outside a layer")
			}
			if rest, ok := strings.CutPrefix(trimmed, "requires "); ok {
				if lastPkg == nil {
					fail("requires before any package")
				}
				lastPkg.Requires = append(lastPkg.Requires, strings.TrimSpace(rest))
				continue
			}
			head, req, hasReq := strings.Cut(trimmed, " requires ")
			f := strings.Fields(head)
			if len(f) < 2 {
				fail("want NAME VERSION")
			}
			p := Package{Name: f[0], Version: f[1]}
			for _, kv := range f[2:] {
				switch k, v, _ := strings.Cut(kv, "="); k {
				case "entry":
					p.Entry = v
				case "extras":
					p.Extras = strings.Split(v, ",")
				case "requested":
					p.Requested = true
				default:
					fail("unknown package attribute %q", kv)
				}
			}
			if hasReq {
				p.Requires = append(p.Requires, strings.TrimSpace(req))
			}
			l := &sc.layers[len(sc.layers)-1]
			l.Packages = append(l.Packages, p)
			lastPkg = &l.Packages[len(l.Packages)-1]
			continue
		}
		verb, rest, _ := strings.Cut(trimmed, " ")
		f := strings.Fields(rest)
		switch verb {
		case "env":
			for _, kv := range f {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					fail("want KEY=VALUE")
				}
				sc.env.Vars[k] = v
			}
		case "mode":
			m, err := ParseMode(rest)
			if err != nil {
				fail("%v", err)
			}
			sc.mode = m
		case "layer":
			if len(f) != 2 {
				fail("want layer KIND NAME")
			}
			k, err := ParseLayerKind(f[0])
			if err != nil {
				fail("%v", err)
			}
			sc.layers = append(sc.layers, Layer{Kind: k, Name: f[1]})
			lastPkg = nil
		case "want":
			if len(f) < 3 {
				fail("want NAME VERSION KIND")
			}
			w := wantPackage{version: f[1], kind: f[2]}
			for _, kv := range f[3:] {
				switch k, v, _ := strings.Cut(kv, "="); k {
				case "layer":
					w.layer, w.hasLayer = v, true
				case "shadowed":
					w.shadowed, w.hasShadowed = v, true
				case "extras":
					w.extras, w.hasExtras = v, true
				default:
					fail("unknown want attribute %q", kv)
				}
			}
			sc.want[wheel.NormalizeName(f[0])] = w
		case "want-reason":
			name, text, _ := strings.Cut(rest, " ")
			sc.reasons[wheel.NormalizeName(name)] = strings.TrimSpace(text)
		case "want-conflict":
			if len(f) < 3 {
				fail("want-conflict BY REQ... kind=K")
			}
			w := wantConflict{by: f[0]}
			end := len(f)
			for end > 1 {
				k, v, ok := strings.Cut(f[end-1], "=")
				if !ok || !slices.Contains([]string{"found", "found-layer", "kind"}, k) {
					break
				}
				switch k {
				case "found":
					w.found = v
				case "found-layer":
					w.foundLayer, w.hasFoundLayer = v, true
				case "kind":
					w.kind = v
				}
				end--
			}
			w.req = strings.Join(f[1:end], " ")
			if w.kind == "" || w.req == "" {
				fail("want-conflict needs a requirement and kind=")
			}
			sc.conflicts = append(sc.conflicts, w)
		case "want-err":
			switch rest {
			case "none":
			case "conflict":
				sc.wantErr = true
			default:
				fail("want-err none|conflict")
			}
		default:
			fail("unknown verb %q", verb)
		}
	}
	return sc
}

// runScenarios runs check as a subtest, named after the file, for each
// dir/*.txt; it fails when there are fewer than atLeast of them.
func runScenarios(t *testing.T, dir string, atLeast int, check func(t *testing.T, file string)) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < atLeast {
		t.Fatalf("found %d scenarios under %s, want at least %d", len(files), dir, atLeast)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) { check(t, file) })
	}
}

func TestResolveScenarios(t *testing.T) {
	runScenarios(t, "testdata", 12, func(t *testing.T, file string) {
		sc := parseScenario(t, file)
		res := Resolve(sc.layers, sc.env, sc.mode)
		checkPackages(t, sc, res)
		checkConflicts(t, sc, res)
		err := res.Err()
		switch {
		case sc.wantErr && !errors.Is(err, ErrConflict):
			t.Errorf("Err() = %v, want an error wrapping ErrConflict", err)
		case !sc.wantErr && err != nil:
			t.Errorf("Err() = %v, want nil", err)
		}
	})
}

func checkPackages(t *testing.T, sc scenario, res Resolution) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range res.Packages {
		seen[e.Normalized] = true
		w, ok := sc.want[e.Normalized]
		if !ok {
			t.Errorf("unexpected effective package %s %s from %s %s", e.Name, e.Version, e.LayerKind, e.Layer)
			continue
		}
		if e.Version != w.version || e.LayerKind.String() != w.kind {
			t.Errorf("%s: got %s %s, want %s %s", e.Name, e.Version, e.LayerKind, w.version, w.kind)
		}
		if w.hasLayer && e.Layer != w.layer {
			t.Errorf("%s: layer %q, want %q", e.Name, e.Layer, w.layer)
		}
		if w.hasShadowed {
			var got []string
			for _, s := range e.ShadowedSources {
				got = append(got, s.Layer+":"+s.Version)
			}
			g := strings.Join(got, ",")
			if g == "" {
				g = "none"
			}
			if g != w.shadowed {
				t.Errorf("%s: shadowed %s, want %s", e.Name, g, w.shadowed)
			}
		}
		if w.hasExtras && strings.Join(e.ActiveExtras, ",") != w.extras {
			t.Errorf("%s: active extras %v, want %s", e.Name, e.ActiveExtras, w.extras)
		}
		if r, ok := sc.reasons[e.Normalized]; ok && e.Reason != r {
			t.Errorf("%s: reason\n got %q\nwant %q", e.Name, e.Reason, r)
		}
		if e.Reason == "" {
			t.Errorf("%s: empty reason", e.Name)
		}
	}
	for n := range sc.want {
		if !seen[n] {
			t.Errorf("want effective package %s, not in the resolution", n)
		}
	}
}

func checkConflicts(t *testing.T, sc scenario, res Resolution) {
	t.Helper()
	left := slices.Clone(sc.conflicts)
	for _, c := range res.Conflicts {
		if c.Message == "" {
			t.Errorf("conflict %+v has no message", c)
		}
		i := slices.IndexFunc(left, func(w wantConflict) bool {
			return wheel.NormalizeName(w.by) == wheel.NormalizeName(c.RequiredBy) && w.req == c.Requirement &&
				w.found == c.Found && w.kind == c.Kind && (!w.hasFoundLayer || w.foundLayer == c.FoundLayer)
		})
		if i < 0 {
			t.Errorf("unexpected conflict: %s requires %q, found %q in %q, kind %s: %s",
				c.RequiredBy, c.Requirement, c.Found, c.FoundLayer, c.Kind, c.Message)
			continue
		}
		t.Logf("conflict: %s", c.Message)
		left = slices.Delete(left, i, i+1)
	}
	for _, w := range left {
		t.Errorf("missing conflict: %s requires %q, found %q, kind %s", w.by, w.req, w.found, w.kind)
	}
}

func TestResolutionJSON(t *testing.T) {
	sc := parseScenario(t, "testdata/shadow_breaks_parent.txt")
	res := Resolve(sc.layers, sc.env, Strict)
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Mode      string           `json:"mode"`
		Packages  []map[string]any `json:"packages"`
		Conflicts []map[string]any `json:"conflicts"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Mode != "strict" {
		t.Errorf("mode = %q, want strict", doc.Mode)
	}
	if len(doc.Packages) == 0 || len(doc.Conflicts) == 0 {
		t.Fatalf("want packages and conflicts in %s", b)
	}
	for _, key := range []string{"name", "normalized", "version", "layer", "layer_kind", "reason", "shadowed_sources", "requested"} {
		if _, ok := doc.Packages[0][key]; !ok {
			t.Errorf("package JSON lacks %q: %v", key, doc.Packages[0])
		}
	}
	for _, key := range []string{"package", "requirement", "required_by", "required_by_layer", "found", "found_layer", "message", "kind"} {
		if _, ok := doc.Conflicts[0][key]; !ok {
			t.Errorf("conflict JSON lacks %q: %v", key, doc.Conflicts[0])
		}
	}
	numpy := doc.Packages[slices.IndexFunc(doc.Packages, func(p map[string]any) bool { return p["name"] == "numpy" })]
	if numpy["layer_kind"] != "LOCAL" {
		t.Errorf("numpy layer_kind = %v, want LOCAL", numpy["layer_kind"])
	}
	src := numpy["shadowed_sources"].([]any)[0].(map[string]any)
	if src["layer"] != "base" || src["version"] != "1.26.4" || src["layer_kind"] != "PARENT" || src["entry"] != "sha256:bb" {
		t.Errorf("numpy shadowed_sources[0] = %v", src)
	}
}

func TestInspect(t *testing.T) {
	sc := parseScenario(t, "testdata/shadow_breaks_parent.txt")
	res := Resolve(sc.layers, sc.env, Warn)
	tests := []struct {
		name          string
		found         bool
		version       string
		conflictCount int
	}{
		{"numpy", true, "2.0.0", 1},
		{"NumPy", true, "2.0.0", 1},
		{"SciPy", true, "1.11.0", 1},
		{"pandas", false, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, conflicts, ok := Inspect(res, tt.name)
			if ok != tt.found || e.Version != tt.version || len(conflicts) != tt.conflictCount {
				t.Errorf("Inspect(%q) = %s %v, %d conflicts; want %s %v, %d", tt.name, e.Version, ok, len(conflicts), tt.version, tt.found, tt.conflictCount)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want Mode
		err  bool
	}{
		{"loose", Loose, false},
		{"WARN", Warn, false},
		{" strict ", Strict, false},
		{"fatal", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMode(tt.in)
			if tt.err {
				if !errors.Is(err, ErrInvalidMode) || !strings.Contains(err.Error(), "loose, warn, strict") {
					t.Errorf("ParseMode(%q) error = %v, want ErrInvalidMode listing the valid modes", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseMode(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestResolveDoesNotModifyInput(t *testing.T) {
	sc := parseScenario(t, "testdata/extras_propagation.txt")
	before, _ := json.Marshal(sc.layers)
	Resolve(sc.layers, sc.env, Strict)
	after, _ := json.Marshal(sc.layers)
	if string(before) != string(after) {
		t.Errorf("Resolve modified its layers:\nbefore %s\nafter  %s", before, after)
	}
}
