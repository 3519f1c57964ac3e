package lockfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/resolver"
)

// linux312 is CPython 3.12 on x86_64 glibc Linux: the marker values
// packaging gives there, and a prefix of its sys_tags() (most preferred
// first), enough for the files under testdata/.
var linux312 = Target{
	Env: resolver.MarkerEnv{Vars: map[string]string{
		"python_version": "3.12", "python_full_version": "3.12.1", "os_name": "posix",
		"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
		"platform_python_implementation": "CPython", "implementation_name": "cpython",
		"implementation_version": "3.12.1", "platform_release": "", "platform_version": "",
	}},
	Tags: []string{
		"cp312-cp312-manylinux_2_36_x86_64", "cp312-cp312-manylinux_2_17_x86_64", "cp312-cp312-manylinux2014_x86_64",
		"cp312-abi3-manylinux_2_17_x86_64", "cp312-none-manylinux_2_17_x86_64", "cp312-cp312-linux_x86_64",
		"py312-none-any", "py3-none-any", "py311-none-any",
	},
}

func linux311() Target {
	t := linux312
	vars := map[string]string{}
	for k, v := range t.Env.Vars {
		vars[k] = v
	}
	vars["python_version"], vars["python_full_version"] = "3.11", "3.11.7"
	t.Env.Vars = vars
	t.Tags = []string{"cp311-cp311-manylinux_2_17_x86_64", "cp311-abi3-manylinux_2_17_x86_64", "py311-none-any", "py3-none-any"}
	return t
}

func TestParseAndSelect(t *testing.T) {
	tests := []struct {
		file   string
		target Target
		kind   error    // from Parse, or else from Select
		msg    string   // a part of the error's message
		chosen []string // name==version -> wheel file name, in file order
	}{
		{file: "pip-25.1.toml", target: linux312, chosen: []string{
			"tinydep==0.3.1 tinydep-0.3.1-py3-none-any.whl", "tinypkg==1.2.0 tinypkg-1.2.0-py3-none-any.whl"}},
		// colorama is for Windows only; numpy's cp312 manylinux wheel wins
		// over the macOS and cp311 ones; uv's [tool] tables are ignored.
		{file: "uv-style.toml", target: linux312, chosen: []string{
			"numpy==2.1.3 numpy-2.1.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
			"typing-extensions==4.12.2 typing_extensions-4.12.2-py3-none-any.whl"}},
		{file: "uv-style.toml", target: linux311(), chosen: []string{
			"numpy==2.1.3 numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
			"typing-extensions==4.12.2 typing_extensions-4.12.2-py3-none-any.whl"}},
		{file: "markers-split.toml", target: linux312, chosen: []string{"splitpkg==2.0 splitpkg-2.0-py3-none-any.whl"}},
		{file: "markers-split.toml", target: linux311(), chosen: []string{"splitpkg==1.0 splitpkg-1.0-py3-none-any.whl"}},
		{file: "requires-py313.toml", target: linux312, kind: ErrNoWheel, msg: "requires-python >=3.13 excludes this interpreter's Python 3.12.1"},
		{file: "markers-overlap.toml", target: linux312, kind: ErrInvalid, msg: "package splitpkg 2.0: applies to this interpreter as splitpkg 1.0 does"},
		{file: "only-windows-wheel.toml", target: linux312, kind: ErrNoWheel, msg: "package winonly 1.0: none of its wheels fits this interpreter and platform (offered: winonly-1.0-cp312-cp312-win_amd64.whl)"},
		{file: "bad-not-toml.toml", kind: ErrInvalid, msg: "not valid TOML (truncated, or not a lock file?): line 1"},
		{file: "bad-truncated.toml", kind: ErrInvalid, msg: "not valid TOML (truncated, or not a lock file?): line 15, column 20: toml: unterminated basic string"},
		{file: "bad-lock-version-2.toml", kind: ErrUnsupported, msg: `lock-version "2.0" is not supported: forge reads lock-version 1.x`},
		{file: "bad-duplicate.toml", kind: ErrInvalid, msg: "package TinyDep 0.3.1: listed twice (packages #1 and #2)"},
		{file: "bad-no-created-by.toml", kind: ErrInvalid, msg: "created-by is missing"},
		{file: "bad-wheel-no-hashes.toml", kind: ErrInvalid, msg: "package tinydep 0.3.1: wheel #1 has no hashes"},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.target.Env.Vars["python_version"], func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			l, err := Parse(path, data)
			var sel []Selected
			if err == nil {
				sel, err = l.Select(path, tc.target)
			}
			if tc.kind != nil {
				if !errors.Is(err, tc.kind) {
					t.Fatalf("error %v, want kind %v", err, tc.kind)
				}
				if !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("error %q: want it to name %s and say %q", err, path, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range sel {
				got = append(got, s.Package.Name+"=="+s.Package.Version+" "+s.Wheel.FileName())
				if len(s.Wheel.SHA256()) != 64 {
					t.Errorf("%s: sha256 %q", s.Package.Name, s.Wheel.SHA256())
				}
			}
			if !reflect.DeepEqual(got, tc.chosen) {
				t.Fatalf("chose\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.chosen, "\n"))
			}
		})
	}
}

// forgeLock is a lock as forge writes it.
func forgeLock() *Lock {
	return &Lock{
		LockVersion:    Version,
		Environments:   []string{`python_full_version == "3.12.1" and sys_platform == "linux" and platform_machine == "x86_64" and implementation_name == "cpython"`},
		RequiresPython: "==3.12.1",
		CreatedBy:      "forge",
		Packages: []Package{
			{Name: "numpy", Version: "2.1.3", Wheels: []Wheel{{Name: "numpy-2.1.3-cp312-cp312-manylinux_2_17_x86_64.whl", Path: "/wheels/numpy-2.1.3-cp312-cp312-manylinux_2_17_x86_64.whl", Size: 16000000,
				Hashes: map[string]string{"sha256": strings.Repeat("ab", 32)}}},
				Tool: &PackageTool{Forge: &ForgeFacts{Layer: "GLOBAL", GlibcFloor: "2.17", CUDAMajor: 12, GPUCode: []string{"sm_80", "compute_90"},
					Verdicts: map[string]abi.Outcome{"a100": "accept", "old host.v1": "refuse"}}}},
			{Name: "tinydep", Version: "0.3.1", Wheels: []Wheel{{Name: "tinydep-0.3.1-py3-none-any.whl", Hashes: map[string]string{"sha256": strings.Repeat("cd", 32)}}},
				Tool: &PackageTool{Forge: &ForgeFacts{Layer: "LOCAL"}}},
		},
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	want := forgeLock()
	data, err := Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse("forge.toml", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip changed the lock:\n%s", data)
	}
	for _, line := range []string{
		`lock-version = '1.0'`, `created-by = 'forge'`, "[[packages]]", "[[packages.wheels]]",
		`hashes = {sha256 = '` + strings.Repeat("ab", 32) + `'}`, "[packages.tool.forge]",
	} {
		if !strings.Contains(string(data), line) {
			t.Errorf("output lacks %q:\n%s", line, data)
		}
	}
}

// TestMarshalReadByTomllib has Python's own TOML reader parse what Marshal
// writes and checks the values it sees.
func TestMarshalReadByTomllib(t *testing.T) {
	py, err := probe.FindPython("3.11")
	if err != nil {
		t.Skipf("Python 3.11 (tomllib) is not installed here: %v", err)
	}
	data, err := Marshal(forgeLock())
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "pylock.toml")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", `
import sys, tomllib
d = tomllib.load(open(sys.argv[1], "rb"))
p = d["packages"][0]
print(d["lock-version"], d["created-by"], len(d["packages"]), p["name"], p["wheels"][0]["hashes"]["sha256"][:4],
      p["wheels"][0]["size"], p["tool"]["forge"]["cuda_major"], ",".join(p["tool"]["forge"]["gpu_code"]),
      p["tool"]["forge"]["verdicts"]["old host.v1"], d["packages"][1]["tool"]["forge"]["layer"])
`, f).CombinedOutput()
	if err != nil {
		t.Fatalf("tomllib: %v\n%s\n%s", err, out, data)
	}
	if got, want := strings.TrimSpace(string(out)), "1.0 forge 2 numpy abab 16000000 12 sm_80,compute_90 refuse LOCAL"; got != want {
		t.Fatalf("tomllib read %q, want %q", got, want)
	}
}
