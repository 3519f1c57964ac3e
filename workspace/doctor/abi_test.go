package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

// abiVariedStore is a forge home whose environments see accepted, warned
// and refused packages under every policy, through parents and GLOBAL:
//
//	base       strict_abi  libfoo (ships libfoo.so.1), purepkg 1.0
//	child      (default)   parent base: needslib (needs libfoo.so.1),
//	                       glibcpkg (GLIBC_2.34), cudapkg (libcudart.so.12
//	                       shipped, sm_80 cubin)
//	grandchild allow_abi   parent child: oldabi (cp39), purepkg 2.0
//	solo       (default)   needslib (nothing provides libfoo.so.1),
//	                       flav 1.0+cu121
//	solo2      allow_abi   flav 2.0+cu121 (same content, other version), oldabi
//	GLOBAL/3.11            globalpkg
//	GLOBAL/3.12            g312, no environment of Python 3.12 (when installed)
//	broken                 an interpreter that no longer exists
func abiVariedStore(t testing.TB) *workspace.Workspace {
	t.Helper()
	// purepkg 1.0, glibcpkg and cudapkg are wstest's ABI wheels; the
	// others are built here.
	paths := wstest.ABIWheels(t, t.TempDir())
	paths["purepkg"], paths["glibcpkg"], paths["cudapkg"] = paths["pure"], paths["glibc"], paths["cuda"]
	wstest.NeedPython(t, "3.11")
	ctx := context.Background()
	build, dir := t.TempDir(), t.TempDir()
	read := wstest.ReadBuilt(t)
	libfoo := read(fixtures.StubLibrary(build, "libfoo.so.1"))
	needs := read(fixtures.BuildSharedObject(build, fixtures.SharedObject{Name: "_needs.so", Link: []string{"libfoo.so.1"}}))
	const tag = "cp311-cp311-manylinux_2_17_x86_64"
	py := func(pkg string) fixtures.File { return fixtures.File{Name: pkg + "/__init__.py", Data: []byte("")} }
	so := func(name string, data []byte) fixtures.File {
		return fixtures.File{Name: name, Data: data, Mode: 0o755}
	}
	wheels := map[string]fixtures.Wheel{
		"purepkg2":  fixtures.PurePackage("purepkg", "2.0"),
		"globalpkg": fixtures.PurePackage("globalpkg", "1.0"),
		"g312":      fixtures.PurePackage("g312", "1.0"),
		"flav1":     fixtures.PurePackage("flav", "1.0+cu121"),
		"flav2":     fixtures.PurePackage("flav", "2.0+cu121"),
		"oldabi":    {Name: "oldabi", Version: "1.0", Tag: "cp39-cp39-manylinux_2_17_x86_64", Files: []fixtures.File{py("oldabi")}},
		"libfoo":    {Name: "libfoo", Version: "1.0", Tag: tag, Files: []fixtures.File{py("libfoo"), so("libfoo/libfoo.so.1", libfoo)}},
		"needslib":  {Name: "needslib", Version: "1.0", Tag: tag, Files: []fixtures.File{py("needslib"), so("needslib/_needs.so", needs)}},
	}
	for k, w := range wheels {
		d := filepath.Join(dir, k)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		p, err := w.WriteTo(d)
		if err != nil {
			t.Fatal(err)
		}
		paths[k] = p
	}
	ws := wstest.Open(t)
	ws.Host = fixtures.Profile("a100-driver535")
	envs := []struct {
		name, parent, python, policy string
		wheels                       []string
		global                       []string
	}{
		{"base", "", "3.11", "strict_abi", []string{"libfoo", "purepkg"}, []string{"globalpkg"}},
		{"child", "base", "", "", []string{"needslib", "glibcpkg", "cudapkg"}, nil},
		{"grandchild", "child", "", "allow_abi", []string{"oldabi", "purepkg2"}, nil},
		{"solo", "", "3.11", "", []string{"needslib", "flav1"}, nil},
		{"solo2", "", "3.11", "allow_abi", []string{"flav2", "oldabi"}, nil},
		{"broken", "", "3.11", "", []string{"purepkg"}, nil},
	}
	if _, err := probe.FindPython("3.12"); err == nil {
		envs = append(envs, struct {
			name, parent, python, policy string
			wheels                       []string
			global                       []string
		}{"py312", "", "3.12", "", nil, []string{"g312"}})
	}
	for _, e := range envs {
		if _, err := ws.Create(ctx, workspace.CreateOptions{Name: e.name, Parent: e.parent, Python: e.python}); err != nil {
			t.Fatal(err)
		}
		if e.policy != "" {
			if err := ws.Store.SetEnvSetting(ctx, e.name, "abi_policy", e.policy); err != nil {
				t.Fatal(err)
			}
		}
		for _, set := range []struct {
			names  []string
			global bool
		}{{e.wheels, false}, {e.global, true}} {
			var specs []string
			for _, n := range set.names {
				specs = append(specs, paths[n])
			}
			if len(specs) == 0 {
				continue
			}
			if _, err := ws.Install(ctx, workspace.InstallOptions{Env: e.name, Specs: specs, Global: set.global, Policy: "allow_abi"}); err != nil {
				t.Fatalf("install %v into %s: %v", set.names, e.name, err)
			}
		}
	}
	db := ws.Store.DB()
	if _, err := db.Exec(`UPDATE envs SET python = '/nonexistent/bin/python3' WHERE name = 'broken'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM envs WHERE name = 'py312'`); err != nil {
		t.Fatal(err)
	}
	return ws
}

// referenceDoctorABI is the straightforward ABI: each environment
// opened on its own, each entry read with Get (and its fingerprint decoded
// whole), every (package, environment) evaluated with abi.Evaluate. The
// real one must give exactly its report.
func referenceDoctorABI(ctx context.Context, w *workspace.Workspace, o ABIOptions) (*ABIReport, error) {
	envs, err := w.Store.ListEnvs(ctx)
	if err != nil {
		return nil, err
	}
	only := map[string]bool{}
	for _, n := range o.Envs {
		only[n] = true
	}
	// Manifests: all of them for a full check, else only the layers of the
	// environments asked for. Entries (and their fingerprints) are read only
	// when a checked layer links them, so one environment costs the same in
	// a store of fifty entries or of five thousand.
	var ms []store.Manifest
	if len(only) == 0 {
		if ms, err = w.Store.AllManifests(ctx); err != nil {
			return nil, err
		}
	} else {
		seen := map[string]bool{}
		for n := range only {
			e, err := w.OpenEnv(ctx, n)
			if err != nil {
				return nil, err
			}
			layers := []string{e.Name, workspace.GlobalLayer(e.Py.XY())}
			for _, p := range e.Chain {
				layers = append(layers, p.Name)
			}
			for _, l := range layers {
				if seen[l] {
					continue
				}
				seen[l] = true
				lm, err := w.Store.Manifests(ctx, l)
				if err != nil {
					return nil, err
				}
				ms = append(ms, lm...)
			}
		}
	}
	entries := map[string]*store.Entry{}
	byLayer := map[string][]store.Manifest{}
	for _, m := range ms {
		if m.State != "linked" {
			continue
		}
		byLayer[m.Layer] = append(byLayer[m.Layer], m)
		if _, ok := entries[m.Entry]; !ok {
			if en, err := w.Store.Get(ctx, m.Entry); err == nil {
				entries[m.Entry] = en
			}
		}
	}
	if len(only) > 0 {
		for n := range only {
			if _, err := w.Store.GetEnv(ctx, n); err != nil {
				return nil, err
			}
		}
	}
	hosts := map[string]*abi.Host{}
	rep := &ABIReport{Envs: []ABIEnv{}}
	usedGlobals := map[string]bool{}
	for _, row := range envs {
		usedGlobals[workspace.GlobalLayer(workspace.PyXY(row.PythonVersion))] = true
		if len(only) > 0 && !only[row.Name] {
			continue
		}
		ae := ABIEnv{Env: row.Name, Python: row.PythonVersion, Packages: []ABIPackage{}}
		e, err := w.OpenEnv(ctx, row.Name)
		if err != nil {
			ae.Error, ae.Verdict = err.Error(), abi.Refuse
			rep.Envs = append(rep.Envs, ae)
			continue
		}
		policy := abi.DefaultPolicy
		if ps := e.Settings["abi_policy"]; ps != "" {
			if p, err := abi.ParsePolicy(ps); err == nil {
				policy = p
			}
		}
		host, err := cachedHost(w, hosts, e)
		if err != nil {
			ae.Error, ae.Verdict = err.Error(), abi.Refuse
			rep.Envs = append(rep.Envs, ae)
			continue
		}
		layers := []struct{ key, label string }{{e.Name, "LOCAL"}}
		for _, p := range e.Chain {
			layers = append(layers, struct{ key, label string }{p.Name, p.Name})
		}
		layers = append(layers, struct{ key, label string }{workspace.GlobalLayer(e.Py.XY()), "GLOBAL"})
		refCheckLayers(rep, &ae, layers, byLayer, entries, host, policy)
		rep.Envs = append(rep.Envs, ae)
	}
	if len(only) == 0 {
		var globals []string
		for l := range byLayer {
			if strings.HasPrefix(l, "GLOBAL/") && !usedGlobals[l] {
				globals = append(globals, l)
			}
		}
		sort.Strings(globals)
		for _, l := range globals {
			xy := strings.TrimPrefix(l, "GLOBAL/")
			ae := ABIEnv{Env: l, Python: xy, Packages: []ABIPackage{}}
			py, err := w.PythonXY(ctx, xy)
			var host *abi.Host
			if err == nil {
				host, err = cachedHost(w, hosts, &workspace.Env{EnvRow: store.EnvRow{Python: py.Executable}, Py: py})
			}
			if err != nil {
				ae.Error, ae.Verdict = err.Error(), abi.Refuse
				rep.Envs = append(rep.Envs, ae)
				continue
			}
			refCheckLayers(rep, &ae, []struct{ key, label string }{{l, "GLOBAL"}}, byLayer, entries, host, abi.DefaultPolicy)
			rep.Envs = append(rep.Envs, ae)
		}
	}
	return rep, nil
}

func refCheckLayers(rep *ABIReport, ae *ABIEnv, layers []struct{ key, label string }, byLayer map[string][]store.Manifest,
	entries map[string]*store.Entry, host *abi.Host, policy abi.Policy) {
	ae.Host, ae.Policy, ae.Verdict = workspace.HostName(host), string(policy), abi.Accept
	seen := map[string]bool{}
	libs := map[string]bool{}
	type pick struct {
		en    *store.Entry
		label string
	}
	var picks []pick
	for _, l := range layers {
		for _, m := range byLayer[l.key] {
			en, ok := entries[m.Entry]
			if !ok {
				continue // doctor reports it
			}
			for _, el := range en.Fingerprint.ELFs {
				libs[filepath.Base(el.Path)] = true
				if el.Soname != "" {
					libs[el.Soname] = true
				}
			}
			if seen[m.NormName] {
				continue
			}
			seen[m.NormName] = true
			picks = append(picks, pick{en, l.label})
		}
	}
	provided := make([]string, 0, len(libs))
	for s := range libs {
		provided = append(provided, s)
	}
	sort.Strings(provided)
	sort.SliceStable(picks, func(i, j int) bool { return picks[i].en.NormName < picks[j].en.NormName })
	for _, p := range picks {
		v := abi.Evaluate(&p.en.Fingerprint, host, policy, abi.CheckOptions{ProvidedLibs: provided})
		f := v.Findings
		if f == nil {
			f = []abi.Finding{}
		}
		ae.Packages = append(ae.Packages, ABIPackage{Name: p.en.Name, Version: p.en.Version, Entry: p.en.SHA256, Layer: p.label, Verdict: v.Verdict, Findings: f})
		rep.Checked++
		switch v.Verdict {
		case abi.Refuse:
			rep.Refused++
			ae.Verdict = abi.Refuse
		case abi.Warn:
			rep.Warned++
			if ae.Verdict == abi.Accept {
				ae.Verdict = abi.Warn
			}
		default:
			rep.Accepted++
		}
	}
}

func TestDoctorABIMatchesReference(t *testing.T) {
	ws := abiVariedStore(t)
	ctx := context.Background()
	hosts := map[string]*abi.Host{"this machine": nil}
	for _, n := range []string{"a100-driver535", "v100-driver470", "nogpu-glibc217", "musl-1.2"} {
		hosts[n] = fixtures.Profile(n)
	}
	subsets := [][]string{nil, {"grandchild"}, {"solo", "child"}, {"broken", "base"}}
	seen := map[string]int{}
	for hn, h := range hosts {
		for _, only := range subsets {
			t.Run(fmt.Sprintf("%s/%v", hn, only), func(t *testing.T) {
				ws.Host = h
				want, werr := referenceDoctorABI(ctx, ws, ABIOptions{Envs: only})
				got, gerr := ABI(ctx, ws, ABIOptions{Envs: only})
				if fmt.Sprint(werr) != fmt.Sprint(gerr) {
					t.Fatalf("error %v, reference %v", gerr, werr)
				}
				if gerr != nil {
					seen["returned error"]++
					return
				}
				if got.Reused > 0 {
					seen["reused"]++ // from an earlier subtest: must be the same
					got.Reused = 0
				}
				wj, _ := json.MarshalIndent(want, "", " ")
				gj, _ := json.MarshalIndent(got, "", " ")
				if !bytes.Equal(wj, gj) {
					t.Fatalf("report differs from the reference:\n%s", lineDiff(string(wj), string(gj)))
				}
				for _, e := range got.Envs {
					seen["env "+string(e.Verdict)]++
					if e.Error != "" {
						seen["error"]++
					}
					for _, p := range e.Packages {
						seen[e.Policy+" "+string(p.Verdict)]++
						for _, f := range p.Findings {
							seen[f.Code]++
						}
					}
				}
			})
		}
	}
	// The store is varied enough to mean something.
	for _, k := range []string{"reused", "strict_abi refuse", "warn_abi accept", "warn_abi warn", "warn_abi refuse", "allow_abi warn", "allow_abi accept",
		"error", "returned error", abi.CodeTagUnsupported, abi.CodeGlibcFloor, abi.CodeMissingLibrary, abi.CodeCUDADriver, abi.CodeNoGPU} {
		if seen[k] == 0 {
			t.Errorf("no %q in any report (seen %v)", k, seen)
		}
	}
}

// TestDoctorABIProvidedAndShared checks what the shared decoding and
// verdicts must not blur: the same wheel with and without a provider of
// its library, and one content under two CUDA versions.
func TestDoctorABIProvidedAndShared(t *testing.T) {
	ws := abiVariedStore(t)
	ws.Host = fixtures.Profile("a100-driver535")
	rep, err := ABI(context.Background(), ws, ABIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]ABIPackage{}
	envs := map[string]ABIEnv{}
	for _, e := range rep.Envs {
		envs[e.Env] = e
		for _, p := range e.Packages {
			pkgs[e.Env+"/"+p.Name] = p
		}
	}
	codes := func(p ABIPackage) string {
		var cs []string
		for _, f := range p.Findings {
			cs = append(cs, f.Code)
		}
		return strings.Join(cs, ",")
	}
	tests := []struct {
		key          string
		verdict      abi.Outcome
		codes, layer string
	}{
		{"child/needslib", abi.Accept, "", "LOCAL"},                      // base ships libfoo.so.1
		{"solo/needslib", abi.Warn, abi.CodeMissingLibrary, "LOCAL"},     // nothing does
		{"grandchild/needslib", abi.Accept, "", "child"},                 // through two parents
		{"grandchild/purepkg", abi.Accept, "", "LOCAL"},                  // shadows base's 1.0
		{"grandchild/globalpkg", abi.Accept, "", "GLOBAL"},               // GLOBAL/3.11
		{"grandchild/oldabi", abi.Warn, abi.CodeTagUnsupported, "LOCAL"}, // allow_abi
		{"solo2/oldabi", abi.Warn, abi.CodeTagUnsupported, "LOCAL"},      // allow_abi
		{"child/libfoo", abi.Accept, "", "base"},                         // strict parent, default child
		{"solo/flav", abi.Accept, "", "LOCAL"},                           // driver 535 runs CUDA 12.1
		{"solo2/flav", abi.Accept, "", "LOCAL"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			p, ok := pkgs[tc.key]
			if !ok {
				t.Fatalf("no %s in the report", tc.key)
			}
			if p.Verdict != tc.verdict || codes(p) != tc.codes || p.Layer != tc.layer {
				t.Errorf("%s: verdict %s codes %q layer %s, want %s %q %s", tc.key, p.Verdict, codes(p), p.Layer, tc.verdict, tc.codes, tc.layer)
			}
		})
	}
	if pkgs["grandchild/purepkg"].Version != "2.0" || pkgs["base/purepkg"].Version != "1.0" {
		t.Errorf("purepkg versions: grandchild %s, base %s", pkgs["grandchild/purepkg"].Version, pkgs["base/purepkg"].Version)
	}
	// One content, two versions: each package keeps its own identity.
	if a, b := pkgs["solo/flav"], pkgs["solo2/flav"]; a.Version != "1.0+cu121" || b.Version != "2.0+cu121" || a.Entry == b.Entry {
		t.Errorf("flav: %+v / %+v", a, b)
	}
	if e := envs["broken"]; e.Error == "" || e.Verdict != abi.Refuse {
		t.Errorf("broken: %+v", e)
	}
	if _, err := probe.FindPython("3.12"); err == nil {
		if e := envs["GLOBAL/3.12"]; len(e.Packages) != 1 || e.Packages[0].Name != "g312" || e.Policy != string(abi.DefaultPolicy) {
			t.Errorf("GLOBAL/3.12 without an environment: %+v", e)
		}
	}
	// On a driver too old for CUDA 12 the message names each version.
	ws.Host = fixtures.Profile("v100-driver470")
	rep, err = ABI(context.Background(), ws, ABIOptions{Envs: []string{"solo", "solo2"}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := map[string]string{}
	for _, e := range rep.Envs {
		for _, p := range e.Packages {
			if p.Name == "flav" && len(p.Findings) > 0 {
				msgs[e.Env] = p.Findings[0].Message
			}
		}
	}
	if !strings.Contains(msgs["solo"], "version 1.0+cu121") || !strings.Contains(msgs["solo2"], "version 2.0+cu121") {
		t.Errorf("flav findings on driver 470: %q", msgs)
	}
}

// lineDiff shows the first lines where two texts differ.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			lo, hi := max(0, i-3), min(len(al), i+4)
			return fmt.Sprintf("line %d:\nreference: %q\ngot:       %q\ncontext (reference):\n%s", i+1, x, y, strings.Join(al[lo:hi], "\n"))
		}
	}
	return ""
}

// TestDoctorABICache checks that an environment's report is reused exactly
// while nothing it depends on has changed, and that the report equals a
// fresh check's either way.
func TestDoctorABICache(t *testing.T) {
	ws := abiVariedStore(t)
	ctx := context.Background()
	a100, v100 := fixtures.Profile("a100-driver535"), fixtures.Profile("v100-driver470")
	const all = -1
	// check runs ABI and wants it to re-check the environments named
	// (all: every one) and to reuse the others' reports; broken, whose
	// interpreter is gone, is checked every time.
	check := func(step string, o ABIOptions, rechecked ...string) {
		t.Helper()
		got, err := ABI(ctx, ws, o)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		want, err := referenceDoctorABI(ctx, ws, o)
		if err != nil {
			t.Fatalf("%s: reference: %v", step, err)
		}
		wantReused := 0
		if len(rechecked) != 1 || rechecked[0] != "all" {
			names := map[string]bool{"broken": true}
			for _, n := range rechecked {
				names[n] = true
			}
			for _, e := range want.Envs {
				if !names[e.Env] {
					wantReused++
				}
			}
		}
		if got.Reused != wantReused {
			t.Errorf("%s: reused %d reports, want %d", step, got.Reused, wantReused)
		}
		got.Reused = 0
		wj, _ := json.MarshalIndent(want, "", " ")
		gj, _ := json.MarshalIndent(got, "", " ")
		if !bytes.Equal(wj, gj) {
			t.Fatalf("%s: report differs from the reference:\n%s", step, lineDiff(string(wj), string(gj)))
		}
	}
	full, some := ABIOptions{}, ABIOptions{Envs: []string{"solo", "grandchild"}}
	for _, h := range []*abi.Host{a100, nil} { // a profile, and this machine probed each time
		ws.Host = h
		check("first", full, "all")
		check("again", full)
		check("some environments", some)
		check("--no-cache", ABIOptions{NoCache: true}, "all")
		check("some environments, --no-cache", ABIOptions{Envs: some.Envs, NoCache: true}, "solo", "grandchild")
	}
	ws.Host = a100
	check("back to the profile", full)
	ws.Host = v100
	check("another host, some environments", some, "solo", "grandchild")
	check("another host, the others", ABIOptions{Envs: []string{"base", "solo2"}}, "base", "solo2")
	check("another host, all", full, "child", "py312", "GLOBAL/3.12")
	ws.Host = a100
	check("the first host again", full)

	wheel, err := fixtures.PurePackage("newpkg", "1.0").WriteTo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	changes := []struct {
		name      string
		do        func() error
		rechecked []string
	}{
		{"install", func() error {
			_, err := ws.Install(ctx, workspace.InstallOptions{Env: "solo", Specs: []string{wheel}})
			return err
		}, []string{"solo"}},
		{"install into a parent", func() error {
			_, err := ws.Install(ctx, workspace.InstallOptions{Env: "base", Specs: []string{wheel}})
			return err
		}, []string{"base", "child", "grandchild"}},
		{"uninstall", func() error {
			_, err := ws.Uninstall(ctx, workspace.UninstallOptions{Env: "solo", Names: []string{"needslib"}})
			return err
		}, []string{"solo"}},
		{"policy", func() error {
			_, err := ws.SetSetting(ctx, "solo2", "abi_policy", "strict_abi")
			return err
		}, []string{"solo2"}},
		{"create", func() error {
			_, err := ws.Create(ctx, workspace.CreateOptions{Name: "late", Parent: "child"})
			return err
		}, []string{"late"}},
		{"remove an environment", func() error {
			_, err := ws.RemoveEnv(ctx, workspace.RemoveEnvOptions{Env: "late"})
			return err
		}, nil},
		{"install into GLOBAL", func() error {
			_, err := ws.Install(ctx, workspace.InstallOptions{Env: "solo", Specs: []string{wheel}, Global: true})
			return err
		}, []string{"base", "child", "grandchild", "solo", "solo2"}},
		{"a torn cache file", func() error {
			files, err := filepath.Glob(filepath.Join(ws.Home, "cache", "abi", "*"))
			if err != nil || len(files) == 0 {
				return fmt.Errorf("no cache file (%v)", err)
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				if err := os.WriteFile(f, b[:len(b)-3], 0o600); err != nil {
					return err
				}
			}
			return nil
		}, []string{"all"}},
	}
	for _, c := range changes {
		if err := c.do(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		check("after "+c.name, full, c.rechecked...)
		check("after "+c.name+", again", full)
	}
}

func TestABICacheCodec(t *testing.T) {
	ws := abiVariedStore(t)
	ws.Host = fixtures.Profile("v100-driver470")
	rep, err := ABI(context.Background(), ws, ABIOptions{NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]cachedEnv{}
	findings := 0
	for i := range rep.Envs {
		e := &rep.Envs[i]
		m[e.Env] = cachedEnv{fmt.Sprint("key", i), e}
		for _, p := range e.Packages {
			findings += len(p.Findings)
		}
	}
	if findings == 0 || len(m) < 5 {
		t.Fatalf("%d environments, %d findings: too little to encode", len(m), findings)
	}
	b := encodeABICache(m)
	got, ok := decodeABICache(string(b))
	if !ok || !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip: ok=%v\n got  %+v\n want %+v", ok, got, m)
	}
	// Every truncation and any trailing byte are refused, never a panic.
	for n := range len(b) {
		if _, ok := decodeABICache(string(b[:n])); ok {
			t.Fatalf("a payload cut to %d of %d bytes decodes", n, len(b))
		}
	}
	if _, ok := decodeABICache(string(b) + "x"); ok {
		t.Error("a payload with a trailing byte decodes")
	}
	// The codec writes every field of a report: a field added to these
	// types must be added to encodeABICache and decodeABICache (and
	// abiCacheFormat changed).
	for typ, fields := range map[reflect.Type]int{reflect.TypeFor[ABIEnv](): 7, reflect.TypeFor[ABIPackage](): 6, reflect.TypeFor[abi.Finding](): 5} {
		if typ.NumField() != fields {
			t.Errorf("%s has %d fields, the cache codec knows %d", typ, typ.NumField(), fields)
		}
	}
}

func FuzzDecodeABICache(f *testing.F) {
	f.Add(string(encodeABICache(map[string]cachedEnv{"e": {"k", &ABIEnv{Env: "e", Packages: []ABIPackage{{Name: "p", Findings: []abi.Finding{{Code: "c"}}}}}}})))
	f.Add("")
	f.Fuzz(func(t *testing.T, payload string) {
		m, ok := decodeABICache(payload)
		if !ok {
			return
		}
		if again := encodeABICache(m); string(again) != payload {
			t.Fatalf("decoded payload encodes differently: %q -> %q", payload, again)
		}
	})
}
