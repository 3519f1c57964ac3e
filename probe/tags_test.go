package probe

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
)

// pyenvInterpreters lists the pyenv interpreters whose pip vendors
// packaging.tags (pip ≥ 19.3), or skips when pyenv has none.
func pyenvInterpreters(t *testing.T) []string {
	t.Helper()
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		if out, err := exec.Command("pyenv", "root").Output(); err == nil {
			root = strings.TrimSpace(string(out))
		}
	}
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".pyenv")
	}
	matches, _ := filepath.Glob(filepath.Join(root, "versions", "*", "bin", "python3"))
	var out []string
	for _, m := range matches {
		if _, err := os.Stat(filepath.Join(filepath.Dir(m), "pip")); err == nil {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		t.Skipf("no pyenv interpreters with pip under %s", root)
	}
	return out
}

const sysTagsScript = `
try:
    from pip._vendor.packaging import tags
except ImportError:
    raise SystemExit(3)
print("\n".join(str(t) for t in tags.sys_tags()))
`

// TestSysTagsMatchesPip compares SysTags with the interpreter's own pip's
// packaging.tags.sys_tags(), line by line.
func TestSysTagsMatchesPip(t *testing.T) {
	for _, exe := range pyenvInterpreters(t) {
		name := filepath.Base(filepath.Dir(filepath.Dir(exe)))
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(exe, "-c", sysTagsScript)
			cmd.Env = cleanPythonEnv(os.Environ())
			out, err := cmd.Output()
			if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
				t.Skipf("%s: pip vendors no packaging.tags", exe)
			}
			if err != nil {
				t.Fatalf("%s: %v", exe, err)
			}
			want := strings.Split(strings.TrimSpace(string(out)), "\n")
			in, err := Interpreter(exe, WithCacheDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			glibc := strings.TrimPrefix(in.Libc, "glibc ")
			got := SysTags(in, glibc)
			compareTags(t, got, want)
			if in.Packaging == "" {
				t.Errorf("packaging version of %s not found", exe)
			}
		})
	}
}

func compareTags(t *testing.T, got, want []string) {
	t.Helper()
	for i := 0; i < len(got) || i < len(want); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Fatalf("tag %d: got %q, want %q (got %d tags, want %d)", i, g, w, len(got), len(want))
		}
	}
}

func TestTagsTable(t *testing.T) {
	base := TagInputs{Implementation: "cp", Major: 3, Minor: 11, Platform: "linux-x86_64", Glibc: "2.17", Packaging: "24.1"}
	with := func(f func(*TagInputs)) TagInputs { in := base; f(&in); return in }
	tests := []struct {
		name        string
		in          TagInputs
		first, last string
		has, hasNot []string
		count       int
	}{
		{
			name:  "glibc 2.17 x86_64 has manylinux down to manylinux1",
			in:    base,
			first: "cp311-cp311-manylinux_2_17_x86_64",
			last:  "py30-none-any",
			has:   []string{"cp311-cp311-manylinux2014_x86_64", "cp311-cp311-manylinux2010_x86_64", "cp311-cp311-manylinux1_x86_64", "cp311-cp311-manylinux_2_5_x86_64", "cp32-abi3-linux_x86_64", "cp311-none-any"},
			// 13 manylinux_2_N + 3 legacy + linux = 17 platforms;
			// cp311 abi, abi3, none + abi3 cp310..cp32 (9) = 12 × 17;
			// py311, py3, py310..py30 = 13 × 17; cp311-none-any; 13 py*-none-any.
			count: 12*17 + 13*17 + 1 + 13,
		},
		{
			name:   "aarch64 stops at glibc 2.17",
			in:     with(func(in *TagInputs) { in.Platform = "linux-aarch64"; in.Glibc = "2.28" }),
			first:  "cp311-cp311-manylinux_2_28_aarch64",
			has:    []string{"cp311-cp311-manylinux2014_aarch64", "cp311-cp311-manylinux_2_17_aarch64"},
			hasNot: []string{"cp311-cp311-manylinux_2_16_aarch64", "cp311-cp311-manylinux2010_aarch64"},
		},
		{
			name:   "no glibc: only linux tags",
			in:     with(func(in *TagInputs) { in.Glibc = "" }),
			first:  "cp311-cp311-linux_x86_64",
			hasNot: []string{"cp311-cp311-manylinux1_x86_64"},
		},
		{
			name:   "musl",
			in:     with(func(in *TagInputs) { in.Glibc = ""; in.Musl = "1.2" }),
			first:  "cp311-cp311-musllinux_1_2_x86_64",
			has:    []string{"cp311-cp311-musllinux_1_0_x86_64", "cp311-cp311-linux_x86_64"},
			hasNot: []string{"cp311-cp311-manylinux1_x86_64"},
		},
		{
			name:   "free-threaded 3.13 has no abi3",
			in:     with(func(in *TagInputs) { in.Minor = 13; in.GilDisabled = true }),
			first:  "cp313-cp313t-manylinux_2_17_x86_64",
			has:    []string{"cp313-none-linux_x86_64", "cp313-none-any"},
			hasNot: []string{"cp313-abi3-linux_x86_64", "cp312-abi3-linux_x86_64", "cp313-cp313-linux_x86_64"},
		},
		{
			name:   "free-threaded under packaging 21.3 is not recognised",
			in:     with(func(in *TagInputs) { in.Minor = 13; in.GilDisabled = true; in.Packaging = "21.3" }),
			first:  "cp313-cp313-manylinux_2_17_x86_64",
			has:    []string{"cp313-abi3-linux_x86_64"},
			hasNot: []string{"cp313-none-any"},
		},
		{
			name:  "debug build also takes the plain ABI",
			in:    with(func(in *TagInputs) { in.PyDebug = true }),
			first: "cp311-cp311d-manylinux_2_17_x86_64",
			has:   []string{"cp311-cp311-manylinux_2_17_x86_64", "cp311-abi3-linux_x86_64"},
		},
		{
			name:  "3.7 pymalloc",
			in:    with(func(in *TagInputs) { in.Minor = 7; in.WithPymalloc = true }),
			first: "cp37-cp37m-manylinux_2_17_x86_64",
		},
		{
			name:   "32-bit on aarch64 (packaging 24)",
			in:     with(func(in *TagInputs) { in.Platform = "linux-aarch64"; in.Is32Bit = true }),
			first:  "cp311-cp311-manylinux_2_17_armv8l",
			has:    []string{"cp311-cp311-manylinux_2_17_armv7l", "cp311-cp311-linux_armv7l"},
			hasNot: []string{"cp311-cp311-manylinux_2_17_aarch64"},
		},
		{
			name:   "32-bit on aarch64 (packaging 21.3)",
			in:     with(func(in *TagInputs) { in.Platform = "linux-aarch64"; in.Is32Bit = true; in.Packaging = "21.3" }),
			first:  "cp311-cp311-manylinux_2_17_armv7l",
			hasNot: []string{"cp311-cp311-linux_armv8l"},
		},
		{
			name:  "pypy",
			in:    TagInputs{Implementation: "pp", Major: 3, Minor: 9, PyVersionNodot: "39", Platform: "linux-x86_64", Glibc: "2.17", ExtSuffix: ".pypy39-pp73-x86_64-linux-gnu.so"},
			first: "pp39-pypy39_pp73-manylinux_2_17_x86_64",
			has:   []string{"pp39-none-linux_x86_64", "pp3-none-any"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Tags(tt.in)
			if got[0] != tt.first {
				t.Errorf("first tag %q, want %q", got[0], tt.first)
			}
			if tt.last != "" && got[len(got)-1] != tt.last {
				t.Errorf("last tag %q, want %q", got[len(got)-1], tt.last)
			}
			for _, h := range tt.has {
				if !slices.Contains(got, h) {
					t.Errorf("missing %q", h)
				}
			}
			for _, h := range tt.hasNot {
				if slices.Contains(got, h) {
					t.Errorf("unexpected %q", h)
				}
			}
			if tt.count != 0 && len(got) != tt.count {
				t.Errorf("%d tags, want %d", len(got), tt.count)
			}
			seen := map[string]bool{}
			for _, g := range got {
				if seen[g] {
					t.Errorf("duplicate tag %q", g)
				}
				seen[g] = true
			}
		})
	}
}

// TestDeriveTagsMatchesInterpreter: a profile without tags derives the same
// list the interpreter's newest-packaging SysTags gives.
func TestDeriveTagsMatchesInterpreter(t *testing.T) {
	for _, exe := range pyenvInterpreters(t) {
		name := filepath.Base(filepath.Dir(filepath.Dir(exe)))
		t.Run(name, func(t *testing.T) {
			in, err := Interpreter(exe, WithCacheDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			in.Packaging = "" // a profile carries no packaging version: newest behaviour
			libc := &abi.Libc{Family: "glibc", Version: "2.31"}
			py := PythonOf(in, libc)
			derived := DeriveTags(&abi.Python{Implementation: py.Implementation, Version: py.Version, ABI: py.ABI}, libc, HostArch("amd64"))
			compareTags(t, derived, py.Tags)
		})
	}
}

func TestDeriveTagsRejects(t *testing.T) {
	for _, tt := range []struct {
		name string
		py   *abi.Python
	}{
		{"nil", nil},
		{"bad version", &abi.Python{Implementation: "cp", Version: "three"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := DeriveTags(tt.py, nil, "x86_64"); got != nil {
				t.Errorf("got %d tags, want none", len(got))
			}
		})
	}
}

func FuzzDeriveTags(f *testing.F) {
	f.Add("cp", "3.12.1", "cp312", "glibc", "2.36", "x86_64")
	f.Add("cp", "3.13.0", "cp313t", "musl", "1.2.4", "aarch64")
	f.Add("pp", "3.9", "pypy39_pp73", "glibc", "3.1", "x86_64")
	f.Fuzz(func(t *testing.T, impl, ver, abiTag, fam, libcVer, arch string) {
		if len(ver) > 12 || len(libcVer) > 12 {
			return // versions this long only make the output huge
		}
		major, minor, ok := majorMinor(ver)
		if ok && (major > 50 || minor > 200) {
			return
		}
		if m, _, ok := majorMinor(libcVer); ok && m > 5 {
			return
		}
		tags := DeriveTags(&abi.Python{Implementation: impl, Version: ver, ABI: abiTag}, &abi.Libc{Family: fam, Version: libcVer}, arch)
		for _, tg := range tags {
			if strings.Count(tg, "-") < 2 {
				t.Fatalf("malformed tag %q", tg)
			}
		}
	})
}
