package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/forge-ml/forge/internal/pyname"
	"github.com/forge-ml/forge/store"
)

// CheckOptions says how far Check goes.
type CheckOptions struct {
	// Fix runs doctor --fix and then requires a clean doctor.
	Fix bool
	// AgeStaging back-dates store/.staging items, half-created or
	// half-removed environments and temporary files in environments by an
	// hour before doctor runs: after a kill nothing is in
	// progress, but doctor leaves fresh leftovers alone (they may belong to
	// a running forge), so this stands in for the time that passes before
	// the next doctor.
	AgeStaging bool
	// Python checks each environment from Python's side (needs Fix).
	Python bool
	// Dists are the distributions Python is asked about.
	Dists []Dist
}

// Verdict is what Check found. Problems are violated invariants; the rest
// is information.
type Verdict struct {
	Problems []string
	// Issues are doctor's findings before any repair, by kind.
	Issues map[string]int
	// Applied is how many repairs doctor --fix made.
	Applied int
	// Envs is how many environments were checked from Python's side.
	Envs int
}

// OK reports whether every invariant held.
func (v *Verdict) OK() bool { return len(v.Problems) == 0 }

func (v *Verdict) addf(format string, args ...any) {
	v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
}

type doctorIssue struct {
	Kind    string `json:"kind"`
	Env     string `json:"env"`
	Entry   string `json:"entry"`
	Path    string `json:"path"`
	Message string `json:"message"`
	Fixable bool   `json:"fixable"`
}

type doctorFix struct {
	Action      string `json:"action"`
	Description string `json:"description"`
	Error       string `json:"error"`
}

type doctorReport struct {
	Issues    []doctorIssue `json:"issues"`
	Applied   []doctorFix   `json:"applied"`
	Failed    []doctorFix   `json:"failed"`
	Remaining []doctorIssue `json:"remaining"`
}

func (f Forge) doctor(ctx context.Context, args ...string) (*doctorReport, Result, error) {
	r := f.Run(ctx, append([]string{"--json", "doctor"}, args...)...)
	var rep doctorReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		return nil, r, fmt.Errorf("doctor %s: no JSON report: %v\n%s", strings.Join(args, " "), err, r)
	}
	return &rep, r, nil
}

// Check judges a forge home while no forge runs on it:
//
//  1. every directory under store/entries is complete: each file its RECORD
//     lists is there with that hash, and nothing else is (whether or not a
//     row names the directory);
//  2. SQLite agrees with the filesystem: every entry row has its directory,
//     every entry's refs equals the manifest rows naming it;
//  3. doctor (exit 0) reports nothing doctor --fix cannot repair;
//  4. with Fix: after doctor --fix a second doctor is clean, and doctor
//     --verify exits 0; every manifest is "linked" with every recorded path
//     present; no link in an environment or GLOBAL leaves both the store
//     and its environment;
//  5. with Python: in every environment, importlib.metadata.version() and
//     import agree with the manifests of its layers (nearest first): a
//     package is fully there, in the recorded version, or not at all.
func Check(ctx context.Context, f Forge, o CheckOptions) (*Verdict, error) {
	v := &Verdict{Issues: map[string]int{}}
	if o.AgeStaging {
		ageLeftovers(f.Home)
	}
	if err := checkStore(ctx, f.Home, v); err != nil {
		return v, err
	}
	rep, r, err := f.doctor(ctx)
	if err != nil {
		return v, err
	}
	if r.Code != 0 {
		v.addf("doctor exited %d:\n%s", r.Code, r)
	}
	for _, is := range rep.Issues {
		v.Issues[is.Kind]++
		if !is.Fixable {
			v.addf("doctor: %s not fixable: %s", is.Kind, is.Message)
		}
	}
	if !o.Fix {
		return v, nil
	}
	fixed, r, err := f.doctor(ctx, "--fix")
	if err != nil {
		return v, err
	}
	v.Applied = len(fixed.Applied)
	if r.Code != 0 {
		v.addf("doctor --fix exited %d:\n%s", r.Code, r)
	}
	for _, fx := range fixed.Failed {
		v.addf("doctor --fix: %s failed: %s", fx.Description, fx.Error)
	}
	again, r, err := f.doctor(ctx, "--verify")
	if err != nil {
		return v, err
	}
	if r.Code != 0 {
		v.addf("doctor --verify after --fix exited %d", r.Code)
	}
	for _, is := range again.Issues {
		v.addf("after doctor --fix: %s: %s", is.Kind, is.Message)
	}
	if err := checkStore(ctx, f.Home, v); err != nil {
		return v, err
	}
	model, err := loadModel(ctx, f.Home)
	if err != nil {
		return v, err
	}
	model.checkLinked(v)
	model.checkLeftovers(v)
	checkLinkTargets(f.Home, model, v)
	if o.Python {
		if err := model.checkPython(ctx, f, o.Dists, v); err != nil {
			return v, err
		}
	}
	return v, nil
}

// ageLeftovers back-dates staging items and half-created environments.
func ageLeftovers(home string) {
	old := time.Now().Add(-time.Hour)
	items, _ := filepath.Glob(filepath.Join(home, "store", ".staging", "*"))
	envs, _ := filepath.Glob(filepath.Join(home, "envs", ".*.creating-*"))
	gone, _ := filepath.Glob(filepath.Join(home, "envs", ".*.removing-*"))
	for _, p := range append(append(items, envs...), gone...) {
		os.Chtimes(p, old, old)
	}
	// Temporary files of interrupted writes inside environments and GLOBAL.
	for _, top := range []string{filepath.Join(home, "envs"), filepath.Join(home, "global")} {
		filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasPrefix(d.Name(), ".forge-tmp-") || strings.HasSuffix(d.Name(), ".forge-tmp")) {
				os.Chtimes(p, old, old)
			}
			return nil
		})
	}
}

// checkStore verifies every store directory against its RECORD and the
// rows against the directories.
func checkStore(ctx context.Context, home string, v *Verdict) error {
	st, err := store.Open(home)
	if err != nil {
		return err
	}
	defer st.Close()
	dirs, err := st.EntryDirs()
	if err != nil {
		return err
	}
	for _, d := range dirs {
		c, err := st.CheckEntry(ctx, d, true)
		if err != nil {
			v.addf("store directory %s is incomplete: %v", d, err)
			continue
		}
		for _, p := range c.Missing {
			v.addf("store directory %s is incomplete: %s missing", d, p)
		}
		for _, m := range c.Mismatch {
			v.addf("store directory %s: %s has hash %s, RECORD says %s", d, m.Path, m.Got, m.Want)
		}
		for _, p := range c.Extra {
			v.addf("store directory %s: %s is not in RECORD", d, p)
		}
	}
	ents, err := st.List(ctx)
	if err != nil {
		return err
	}
	ms, err := st.AllManifests(ctx)
	if err != nil {
		return err
	}
	uses := map[string]int{}
	for _, m := range ms {
		uses[m.Entry]++
	}
	for _, e := range ents {
		if _, err := os.Lstat(st.EntryDir(e.SHA256)); err != nil {
			v.addf("entry row %s (%s %s) has no directory", e.SHA256[:12], e.Name, e.Version)
		}
		if e.Refs != uses[e.SHA256] {
			v.addf("entry %s (%s %s): refs %d, %d manifest row(s)", e.SHA256[:12], e.Name, e.Version, e.Refs, uses[e.SHA256])
		}
	}
	return nil
}

// model is the metadata of a home, loaded once.
type model struct {
	home      string
	entries   map[string]*store.Entry
	envs      []*store.EnvRow
	byName    map[string]*store.EnvRow
	manifests map[string][]store.Manifest // by layer
	links     []store.LayerLink
}

func loadModel(ctx context.Context, home string) (*model, error) {
	st, err := store.Open(home)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	m := &model{home: home, entries: map[string]*store.Entry{}, byName: map[string]*store.EnvRow{}, manifests: map[string][]store.Manifest{}}
	ents, err := st.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		m.entries[e.SHA256] = e
	}
	if m.envs, err = st.ListEnvs(ctx); err != nil {
		return nil, err
	}
	for _, e := range m.envs {
		m.byName[e.Name] = e
	}
	ms, err := st.AllManifests(ctx)
	if err != nil {
		return nil, err
	}
	for _, x := range ms {
		m.manifests[x.Layer] = append(m.manifests[x.Layer], x)
	}
	m.links, err = st.AllLinks(ctx)
	return m, err
}

func (m *model) layerRoot(layer string) string {
	if xy, ok := store.LayerKey(layer).XY(); ok {
		return filepath.Join(m.home, "global", xy)
	}
	if e := m.byName[layer]; e != nil {
		return e.Path
	}
	return filepath.Join(m.home, "envs", layer)
}

// checkLinked: every manifest is complete and every recorded path exists.
func (m *model) checkLinked(v *Verdict) {
	for layer, ms := range m.manifests {
		for _, x := range ms {
			if x.State != store.StateLinked {
				v.addf("%s in %s is %q after doctor --fix", x.NormName, layer, x.State)
			}
			if m.entries[x.Entry] == nil {
				v.addf("%s in %s names entry %s, which has no row (collected while referenced?)", x.NormName, layer, x.Entry[:12])
			}
		}
	}
	for _, l := range m.links {
		p := filepath.Join(m.layerRoot(l.Layer), filepath.FromSlash(l.Path))
		if _, err := os.Stat(p); err != nil {
			v.addf("recorded path %s of %s is missing or dangling: %v", l.Path, l.Layer, err)
		}
	}
}

// checkLeftovers: every top-level item of a layer's site-packages and bin
// belongs to a recorded path of that layer, or is forge's own (_forge_*.pth)
// or the venv's (bin/python*, bin/activate*, __pycache__). Anything else is
// what an interrupted command left and doctor --fix did not remove.
func (m *model) checkLeftovers(v *Verdict) {
	owned := map[string]bool{} // absolute top-level paths
	for _, l := range m.links {
		root := m.layerRoot(l.Layer)
		parts := strings.Split(l.Path, "/")
		switch {
		case len(parts) >= 4 && parts[0] == "lib" && parts[2] == "site-packages":
			owned[filepath.Join(root, "lib", parts[1], "site-packages", parts[3])] = true
		case len(parts) >= 2 && parts[0] == "bin":
			owned[filepath.Join(root, "bin", parts[1])] = true
		}
	}
	roots := []string{}
	for _, e := range m.envs {
		roots = append(roots, e.Path)
	}
	globals, _ := filepath.Glob(filepath.Join(m.home, "global", "*"))
	roots = append(roots, globals...)
	for _, root := range roots {
		sites, _ := filepath.Glob(filepath.Join(root, "lib", "python*", "site-packages"))
		for _, dir := range append(sites, filepath.Join(root, "bin")) {
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				n := e.Name()
				p := filepath.Join(dir, n)
				if owned[p] || n == "__pycache__" || strings.HasPrefix(n, "_forge_") ||
					(dir == filepath.Join(root, "bin") && (strings.HasPrefix(n, "python") || strings.HasPrefix(n, "activate"))) {
					continue
				}
				v.addf("%s is left over: no recorded package owns it", p)
			}
		}
	}
}

// checkLinkTargets walks every environment and GLOBAL prefix: a symlink may
// point into the store or inside its own prefix, nowhere else (the venv's
// bin/python* links to the base interpreter are the exception).
func checkLinkTargets(home string, m *model, v *Verdict) {
	roots := []string{}
	for _, e := range m.envs {
		roots = append(roots, e.Path)
	}
	globals, _ := filepath.Glob(filepath.Join(home, "global", "*"))
	roots = append(roots, globals...)
	entries := filepath.Join(home, "store", "entries")
	views := filepath.Join(home, "store", "views")
	for _, root := range roots {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			if filepath.Dir(p) == filepath.Join(root, "bin") && strings.HasPrefix(d.Name(), "python") {
				return nil
			}
			t, err := os.Readlink(p)
			if err != nil {
				return nil
			}
			if !filepath.IsAbs(t) {
				t = filepath.Join(filepath.Dir(p), t)
			}
			t = filepath.Clean(t)
			if !within(t, entries) && !within(t, views) && !within(t, root) {
				v.addf("link %s points to %s, outside the store and its environment", p, t)
			}
			return nil
		})
	}
}

func within(p, root string) bool {
	r, err := filepath.Rel(root, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, "../")
}

// pyProbe asks an environment's python, for each distribution, what
// importlib.metadata and import say.
const pyProbe = `
import importlib, importlib.metadata as md, json, sys
out = {}
for dist, mod in json.loads(sys.argv[1]):
    r = {"meta": None, "import": None}
    try:
        r["meta"] = md.version(dist)
    except md.PackageNotFoundError:
        pass
    try:
        r["import"] = str(getattr(importlib.import_module(mod), "VERSION", "?"))
    except ImportError:
        pass
    out[dist] = r
print(json.dumps(out))
`

// checkPython compares Python's view of every environment with the
// manifests of its layers.
func (m *model) checkPython(ctx context.Context, f Forge, dists []Dist, v *Verdict) error {
	q := make([][2]string, len(dists))
	for i, d := range dists {
		q[i] = [2]string{d.Name, d.Module}
	}
	arg, _ := json.Marshal(q)
	for _, e := range m.envs {
		want := map[string]string{} // norm name -> version, nearest layer first
		layers := []string{e.Name}
		for p := e.Parent; p != ""; {
			layers = append(layers, p)
			pr := m.byName[p]
			if pr == nil {
				break
			}
			p = pr.Parent
		}
		xy := strings.Join(strings.SplitN(e.PythonVersion, ".", 3)[:2], ".")
		layers = append(layers, string(store.GlobalLayer(xy)))
		for _, l := range layers {
			for _, x := range m.manifests[l] {
				if _, seen := want[x.NormName]; !seen && m.entries[x.Entry] != nil {
					want[x.NormName] = m.entries[x.Entry].Version
				}
			}
		}
		cmd := exec.CommandContext(ctx, filepath.Join(e.Path, "bin", "python"), "-c", pyProbe, string(arg))
		cmd.Env = cleanEnv()
		out, err := cmd.Output()
		if err != nil {
			v.addf("environment %s: python: %v", e.Name, err)
			continue
		}
		var got map[string]struct {
			Meta   *string `json:"meta"`
			Import *string `json:"import"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			v.addf("environment %s: python said %q", e.Name, out)
			continue
		}
		v.Envs++
		names := make([]string, 0, len(got))
		for n := range got {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			g := got[n]
			wv, installed := want[pyname.Normalize(n)]
			meta, imp := deref(g.Meta), deref(g.Import)
			switch {
			case installed && (meta != wv || imp != wv):
				v.addf("environment %s: %s %s is recorded, Python sees metadata %q and import %q", e.Name, n, wv, meta, imp)
			case !installed && (g.Meta != nil || g.Import != nil):
				v.addf("environment %s: %s is not recorded, Python sees metadata %q and import %q", e.Name, n, meta, imp)
			}
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return "<none>"
	}
	return *s
}
