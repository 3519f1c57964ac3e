package abireport

import (
	"bytes"
	"cmp"
	"context"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

func TestABICheck(t *testing.T) {
	ctx := context.Background()
	wheels := wstest.ABIWheels(t, t.TempDir())
	fleet := wstest.FleetDir(t)
	hosts, err := workspace.LoadProfiles([]string{fleet})
	if err != nil {
		t.Fatal(err)
	}
	ws := wstest.Open(t)
	tests := []struct {
		wheel  string
		policy abi.Policy
		want   map[string]abi.Outcome // host -> verdict
		codes  map[string][]string    // host -> finding codes (when listed)
	}{
		{wheel: "pure", want: map[string]abi.Outcome{
			"a100-driver535": abi.Accept, "aarch64-glibc235": abi.Accept, "h100-driver550": abi.Accept, "musl-1.2": abi.Accept,
			"nogpu-glibc217": abi.Accept, "nogpu-glibc228": abi.Accept, "rtx4090-driver560": abi.Accept,
			"v100-a100-driver535": abi.Accept, "v100-driver470": abi.Accept}},
		{wheel: "glibc", want: map[string]abi.Outcome{
			"nogpu-glibc217": abi.Refuse, "nogpu-glibc228": abi.Refuse, "a100-driver535": abi.Refuse,
			"h100-driver550": abi.Accept, "rtx4090-driver560": abi.Accept, "aarch64-glibc235": abi.Refuse, "musl-1.2": abi.Refuse},
			codes: map[string][]string{"nogpu-glibc217": {abi.CodeTagUnsupported, abi.CodeGlibcFloor}, "h100-driver550": {}}},
		{wheel: "cuda", want: map[string]abi.Outcome{
			"v100-driver470": abi.Refuse, "a100-driver535": abi.Accept, "v100-a100-driver535": abi.Warn,
			"nogpu-glibc217": abi.Warn, "rtx4090-driver560": abi.Accept, "h100-driver550": abi.Refuse},
			codes: map[string][]string{"v100-driver470": {abi.CodeCUDADriver, abi.CodeGPUArch}, "a100-driver535": {},
				"v100-a100-driver535": {abi.CodeGPUArch}, "nogpu-glibc217": {abi.CodeNoGPU}, "h100-driver550": {abi.CodeGPUArch}}},
		{wheel: "cuda", policy: abi.StrictABI, want: map[string]abi.Outcome{"v100-a100-driver535": abi.Refuse, "nogpu-glibc217": abi.Refuse, "a100-driver535": abi.Accept}},
		{wheel: "cuda", policy: abi.AllowABI, want: map[string]abi.Outcome{"v100-driver470": abi.Warn, "v100-a100-driver535": abi.Accept}},
	}
	for _, tt := range tests {
		name := tt.wheel + "/" + cmp.Or(string(tt.policy), "default")
		t.Run(name, func(t *testing.T) {
			rep, err := Check(ctx, ws, CheckOptions{Targets: []string{wheels[tt.wheel]}, Hosts: hosts, Policy: tt.policy})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Wheels) != 1 || len(rep.Wheels[0].Verdicts) != len(hosts) {
				t.Fatalf("report %+v", rep)
			}
			wh := rep.Wheels[0]
			if wh.Requires == nil || wh.File == "" || wh.Entry != "" || len(wh.Tags) == 0 {
				t.Errorf("wheel %+v", wh)
			}
			wantPolicy := tt.policy
			if wantPolicy == "" {
				wantPolicy = abi.WarnABI
			}
			for _, v := range wh.Verdicts {
				if v.Policy != wantPolicy {
					t.Errorf("%s: policy %s, want %s", v.Host, v.Policy, wantPolicy)
				}
				if want, ok := tt.want[v.Host]; ok && v.Verdict != want {
					t.Errorf("%s: verdict %s, want %s (findings %v)", v.Host, v.Verdict, want, v.Findings)
				}
				if want, ok := tt.codes[v.Host]; ok {
					if got := abi.FindingCodes(v.Findings); !slices.Equal(got, want) {
						t.Errorf("%s: codes %v, want %v", v.Host, got, want)
					}
				}
			}
		})
	}
	t.Run("store entries by name", func(t *testing.T) {
		for _, k := range []string{"cuda", "pure"} {
			if _, err := ws.Store.Ingest(ctx, wheels[k]); err != nil {
				t.Fatal(err)
			}
		}
		fromFile, err := Check(ctx, ws, CheckOptions{Targets: []string{wheels["cuda"]}, Hosts: hosts})
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range []string{"cudapkg", "CudaPkg==1.0"} {
			rep, err := Check(ctx, ws, CheckOptions{Targets: []string{target, "purepkg"}, Hosts: hosts})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Wheels) != 2 || rep.Wheels[0].Entry == "" || rep.Wheels[0].Name != "cudapkg" {
				t.Fatalf("%s: wheels %+v", target, rep.Wheels)
			}
			for i, v := range rep.Wheels[0].Verdicts {
				if w := fromFile.Wheels[0].Verdicts[i]; v.Verdict != w.Verdict || !slices.Equal(abi.FindingCodes(v.Findings), abi.FindingCodes(w.Findings)) {
					t.Errorf("%s on %s: stored fingerprint gives %s %v, the file %s %v", target, v.Host, v.Verdict, v.Findings, w.Verdict, w.Findings)
				}
			}
			if rep.Summary.Accept+rep.Summary.Warn+rep.Summary.Refuse != 2*len(hosts) {
				t.Errorf("summary %+v", rep.Summary)
			}
		}
	})
	t.Run("this host when no profile", func(t *testing.T) {
		ws.Host = fixtures.Profile("musl-1.2")
		defer func() { ws.Host = nil }()
		rep, err := Check(ctx, ws, CheckOptions{Targets: []string{wheels["glibc"]}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Hosts) != 1 || rep.Hosts[0] != "musl-1.2" || rep.Wheels[0].Verdicts[0].Verdict != abi.Refuse {
			t.Errorf("report %+v", rep)
		}
	})
	errTests := []struct {
		name string
		o    CheckOptions
		want error
	}{
		{"no targets", CheckOptions{Hosts: hosts}, workspace.ErrUsage},
		{"bad policy", CheckOptions{Targets: []string{wheels["pure"]}, Hosts: hosts, Policy: "lenient"}, workspace.ErrUsage},
		{"specifier", CheckOptions{Targets: []string{"cudapkg>=1"}, Hosts: hosts}, workspace.ErrUsage},
		{"not in store", CheckOptions{Targets: []string{"nosuchpkg==1.0"}, Hosts: hosts}, store.ErrNotFound},
		{"damaged wheel", CheckOptions{Targets: []string{abiDamaged(t, wheels["cuda"])}, Hosts: hosts}, store.ErrCorrupt},
		{"not a wheel", CheckOptions{Targets: []string{abiWrite(t, "junk-1.0-py3-none-any.whl", []byte("junk"))}, Hosts: hosts}, store.ErrInvalid},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Check(ctx, ws, tt.o); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func abiWrite(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// abiDamaged is a copy of the wheel at p cut in half.
func abiDamaged(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return abiWrite(t, filepath.Base(p), b[:len(b)/2])
}

func TestLoadProfiles(t *testing.T) {
	fleet := wstest.FleetDir(t)
	one := filepath.Join(fleet, "a100-driver535.json")
	renamed := abiWrite(t, "other.json", []byte(`{"schema":"forge.host/v1","name":"a100-driver535","os":"linux","arch":"x86_64"}`))
	noTags := abiWrite(t, "bare.json", []byte(`{"schema":"forge.host/v1","os":"linux","arch":"x86_64","libc":{"family":"glibc","version":"2.28"},"python":{"implementation":"cp","version":"3.12.1","abi":"cp312"}}`))
	tests := []struct {
		name  string
		paths []string
		want  []string
		err   bool
	}{
		{name: "directory sorted", paths: []string{fleet}, want: fixtures.ProfileNames()},
		{name: "file then directory, no repeats", paths: []string{one, fleet}, want: append([]string{"a100-driver535"},
			slices.DeleteFunc(fixtures.ProfileNames(), func(s string) bool { return s == "a100-driver535" })...)},
		{name: "named after its file, tags derived", paths: []string{noTags}, want: []string{"bare"}},
		{name: "duplicate name", paths: []string{one, renamed}, err: true},
		{name: "missing", paths: []string{filepath.Join(fleet, "nope.json")}, err: true},
		{name: "empty directory", paths: []string{t.TempDir()}, err: true},
		{name: "not a profile", paths: []string{abiWrite(t, "x.json", []byte(`{"name":"x"}`))}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts, err := workspace.LoadProfiles(tt.paths)
			if tt.err {
				if !errors.Is(err, workspace.ErrUsage) {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, h := range hosts {
				names = append(names, h.Name)
				if h.Python != nil && len(h.Python.Tags) == 0 {
					t.Errorf("%s: no python tags", h.Name)
				}
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("names %v, want %v", names, tt.want)
			}
		})
	}
}

func TestABIMatrixWheels(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	wstest.ABIWheels(t, dir)
	fleet := wstest.FleetDir(t)
	ws := wstest.Open(t)
	rep, err := Matrix(ctx, ws, MatrixOptions{WheelsDir: dir, Profiles: []string{fleet}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Profiles, fixtures.ProfileNames()) || rep.Policy != abi.WarnABI {
		t.Fatalf("profiles %v, policy %s", rep.Profiles, rep.Policy)
	}
	var names []string
	for _, r := range rep.Rows {
		names = append(names, r.Name)
		if len(r.Cells) != len(rep.Profiles) || r.File == "" {
			t.Errorf("row %+v", r)
		}
		for i, c := range r.Cells {
			if c.Host != rep.Profiles[i] {
				t.Errorf("%s: cell %d is %s, column %s", r.Name, i, c.Host, rep.Profiles[i])
			}
		}
	}
	if !slices.Equal(names, []string{"cudapkg", "glibcpkg", "purepkg"}) {
		t.Errorf("rows %v (want sorted by file name)", names)
	}
	// purepkg: accept on all 13; cudapkg (cp311): refuse on aarch64,
	// h100, musl, v100 and the 4 hosts of other Pythons, warn on the
	// cp311 no-GPU hosts and v100+a100; glibcpkg (cp311): accept on h100 and
	// rtx4090 only.
	want := Summary{Accept: 13 + 2 + 2, Warn: 3, Refuse: 4 + 4 + 7 + 4}
	if rep.Summary != want {
		t.Errorf("summary %+v, want %+v", rep.Summary, want)
	}
	if got := rep.Rows[0].Cells[slices.Index(rep.Profiles, "v100-driver470")]; got.Verdict != abi.Refuse || !slices.Equal(got.Codes, []string{abi.CodeCUDADriver, abi.CodeGPUArch}) {
		t.Errorf("cudapkg on v100-driver470: %+v", got)
	}

	t.Run("junit", func(t *testing.T) {
		for _, enforce := range []bool{false, true} {
			var buf bytes.Buffer
			if err := rep.WriteJUnit(&buf, enforce); err != nil {
				t.Fatal(err)
			}
			var doc junitSuites
			if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatalf("not XML: %v\n%s", err, buf.String())
			}
			failures := 0
			outs := 0
			for _, s := range doc.Suites {
				for _, c := range s.Cases {
					if c.Failure != nil {
						failures++
						if c.Failure.Text == "" || !strings.Contains(c.Failure.Message, string(rep.Policy)) {
							t.Errorf("failure without findings: %+v", c.Failure)
						}
					}
					if c.SystemOut != "" {
						outs++
					}
				}
			}
			wantFail, wantOut := rep.Summary.Refuse, rep.Summary.Warn
			if enforce {
				wantFail, wantOut = rep.Summary.Refuse+rep.Summary.Warn, 0
			}
			if len(doc.Suites) != len(rep.Profiles) || doc.Tests != 3*len(rep.Profiles) || doc.Failures != wantFail || failures != wantFail || outs != wantOut ||
				rep.Failures(enforce) != wantFail {
				t.Errorf("enforce %v: %d suites, %d tests, %d/%d failures (want %d), %d system-out (want %d)",
					enforce, len(doc.Suites), doc.Tests, doc.Failures, failures, wantFail, outs, wantOut)
			}
		}
	})

	errTests := []struct {
		name string
		o    MatrixOptions
		want error
	}{
		{"neither env nor dir", MatrixOptions{Profiles: []string{fleet}}, workspace.ErrUsage},
		{"both env and dir", MatrixOptions{Env: "x", WheelsDir: dir, Profiles: []string{fleet}}, workspace.ErrUsage},
		{"no profiles", MatrixOptions{WheelsDir: dir}, workspace.ErrUsage},
		{"bad policy", MatrixOptions{WheelsDir: dir, Profiles: []string{fleet}, Policy: "lenient"}, workspace.ErrUsage},
		{"empty dir", MatrixOptions{WheelsDir: t.TempDir(), Profiles: []string{fleet}}, store.ErrNotFound},
		{"unknown env", MatrixOptions{Env: "nosuchenv", Profiles: []string{fleet}}, store.ErrNotFound},
		{"damaged wheel", MatrixOptions{WheelsDir: filepath.Dir(abiDamaged(t, filepath.Join(dir, "purepkg-1.0-py3-none-any.whl"))), Profiles: []string{fleet}}, store.ErrCorrupt},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Matrix(ctx, ws, tt.o); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestABIMatrixEnv: an environment's effective packages (its own and its
// parent's, nearest winning) from their stored fingerprints, under its
// abi_policy: wstest.LockEnv's app (purepkg 1.0, cudapkg) on base
// (purepkg 0.9, glibcpkg).
func TestABIMatrixEnv(t *testing.T) {
	ctx := context.Background()
	fleet := wstest.FleetDir(t)
	ws, _ := wstest.LockEnv(t)
	if err := ws.Store.SetEnvSetting(ctx, "app", "abi_policy", string(abi.StrictABI)); err != nil {
		t.Fatal(err)
	}
	profiles := []string{filepath.Join(fleet, "a100-driver535.json"), filepath.Join(fleet, "v100-a100-driver535.json"), filepath.Join(fleet, "h100-driver550.json")}
	tests := []struct {
		name   string
		policy abi.Policy
		want   map[string][]abi.Outcome // row name@layer -> verdicts per profile
	}{
		{name: "env policy", want: map[string][]abi.Outcome{
			"cudapkg@LOCAL": {abi.Accept, abi.Refuse, abi.Refuse},
			"glibcpkg@base": {abi.Refuse, abi.Refuse, abi.Accept},
			"purepkg@LOCAL": {abi.Accept, abi.Accept, abi.Accept},
		}},
		{name: "flag policy wins", policy: abi.WarnABI, want: map[string][]abi.Outcome{
			"cudapkg@LOCAL": {abi.Accept, abi.Warn, abi.Refuse},
			"glibcpkg@base": {abi.Refuse, abi.Refuse, abi.Accept},
			"purepkg@LOCAL": {abi.Accept, abi.Accept, abi.Accept},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Matrix(ctx, ws, MatrixOptions{Env: "app", Profiles: profiles, Policy: tt.policy})
			if err != nil {
				t.Fatal(err)
			}
			wantPolicy := tt.policy
			if wantPolicy == "" {
				wantPolicy = abi.StrictABI
			}
			if rep.Policy != wantPolicy || rep.Env != "app" {
				t.Errorf("policy %s env %s", rep.Policy, rep.Env)
			}
			got := map[string][]abi.Outcome{}
			for _, r := range rep.Rows {
				if r.Entry == "" || r.File != "" {
					t.Errorf("row %+v: want a store entry", r)
				}
				for _, c := range r.Cells {
					got[r.Name+"@"+r.Layer] = append(got[r.Name+"@"+r.Layer], c.Verdict)
				}
				if r.Name == "purepkg" && r.Version != "1.0" {
					t.Errorf("purepkg %s: the parent's 0.9 should be shadowed", r.Version)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("rows %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if !slices.Equal(got[k], v) {
					t.Errorf("%s: %v, want %v", k, got[k], v)
				}
			}
		})
	}
}
