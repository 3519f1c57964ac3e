package probe

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
)

var hostArch = HostArch(runtime.GOARCH)

// confstrGlibc asks a real Python for the running glibc, the way packaging does.
func confstrGlibc(t *testing.T) string {
	t.Helper()
	py, err := FindPython("")
	if err != nil {
		t.Skip("no python3 on PATH to compare with")
	}
	out, err := exec.Command(py, "-c", `import os; print(os.confstr("CS_GNU_LIBC_VERSION"))`).Output()
	if err != nil {
		t.Skipf("python3 cannot say its glibc: %v", err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "glibc ")
}

// readelfMaxDef is the highest prefix+version definition readelf reports.
func readelfMaxDef(t *testing.T, lib, prefix string) string {
	t.Helper()
	out, err := exec.Command("readelf", "-V", "-W", lib).Output()
	if err != nil {
		t.Skipf("readelf: %v", err)
	}
	re := regexp.MustCompile(`Name: ` + prefix + `([0-9][0-9.]*)\b`)
	best, bestKey := "", []int(nil)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		k, ok := versionKey(m[1])
		if ok && (bestKey == nil || compareKeys(k, bestKey) > 0) {
			best, bestKey = m[1], k
		}
	}
	return best
}

func TestLibcRealMachine(t *testing.T) {
	libc, ok := findLib("/", hostArch, "libc.so.6")
	if !ok {
		t.Skip("this machine has no glibc libc.so.6")
	}
	want := confstrGlibc(t)
	got, err := GlibcVersion(libc)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("GlibcVersion(%s) = %q; os.confstr says %q", libc, got, want)
	}
	reasons := map[string]string{}
	lc := probeLibc(context.Background(), "/", hostArch, reasons)
	if lc == nil || lc.Family != "glibc" || lc.Version != want {
		t.Fatalf("probeLibc = %+v (%v), want glibc %s", lc, reasons, want)
	}
	if cxx, ok := findLib("/", hostArch, "libstdc++.so.6"); ok {
		if w := readelfMaxDef(t, cxx, "GLIBCXX_"); lc.Libstdcxx != w {
			t.Errorf("libstdc++ %q, readelf says %q", lc.Libstdcxx, w)
		}
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeGlibc builds a shared library that defines the given GLIBC_ versions
// but carries no release banner, as gcc output.
func fakeGlibc(t *testing.T, dst string, versions ...string) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed")
	}
	dir := t.TempDir()
	var src, script strings.Builder
	prev := ""
	for i, v := range versions {
		src.WriteString("int f" + string(rune('a'+i)) + "(void) { return 0; }\n")
		script.WriteString("GLIBC_" + v + " { global: f" + string(rune('a'+i)) + "; }")
		if prev != "" {
			script.WriteString(" GLIBC_" + prev)
		}
		script.WriteString(";\n")
		prev = v
	}
	script.WriteString("GLIBC_PRIVATE { local: *; };\n")
	os.WriteFile(filepath.Join(dir, "c.c"), []byte(src.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "v.map"), []byte(script.String()), 0o644)
	os.MkdirAll(filepath.Dir(dst), 0o755)
	cmd := exec.Command("gcc", "-shared", "-fPIC", "-o", dst, "-Wl,--version-script="+filepath.Join(dir, "v.map"), "-Wl,-soname,libc.so.6", filepath.Join(dir, "c.c"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
}

func TestLibcFakeRoots(t *testing.T) {
	multi := "/usr/lib/" + hostArch + "-linux-gnu"
	realLibc, haveLibc := findLib("/", hostArch, "libc.so.6")
	realCxx, haveCxx := findLib("/", hostArch, "libstdc++.so.6")

	tests := []struct {
		name       string
		build      func(t *testing.T, root string)
		family     string
		version    string
		libstdcxx  string
		reasonKeys []string
	}{
		{
			name: "copied glibc behind absolute symlinks and a merged /lib",
			build: func(t *testing.T, root string) {
				if !haveLibc || !haveCxx {
					t.Skip("this machine lacks glibc or libstdc++ to copy")
				}
				copyFile(t, realLibc, filepath.Join(root, multi, "libc-real.so"))
				copyFile(t, realCxx, filepath.Join(root, multi, "libstdc++.so.6.0.99"))
				os.Symlink(multi+"/libc-real.so", filepath.Join(root, multi, "libc.so.6"))
				os.Symlink("libstdc++.so.6.0.99", filepath.Join(root, multi, "libstdc++.so.6"))
				os.Symlink("usr/lib", filepath.Join(root, "lib"))
			},
			family:  "glibc",
			version: "(real)",
		},
		{
			name: "gcc-built libc without banner: highest GLIBC_ definition",
			build: func(t *testing.T, root string) {
				fakeGlibc(t, filepath.Join(root, "lib64", "libc.so.6"), "2.2.5", "2.5", "2.17", "2.9")
			},
			family:     "glibc",
			version:    "2.17",
			reasonKeys: []string{DimLibstdcxx},
		},
		{
			name: "musl: loader present, version unknown under a foreign root",
			build: func(t *testing.T, root string) {
				os.MkdirAll(filepath.Join(root, "lib"), 0o755)
				os.WriteFile(filepath.Join(root, "lib", "ld-musl-"+hostArch+".so.1"), []byte("not run"), 0o755)
			},
			family:     "musl",
			reasonKeys: []string{DimLibc, DimLibstdcxx},
		},
		{
			name:       "empty root",
			build:      func(t *testing.T, root string) {},
			reasonKeys: []string{DimLibc},
		},
		{
			name: "wrong-arch libc is ignored",
			build: func(t *testing.T, root string) {
				// A text file named libc.so.6 is not an ELF of this arch.
				os.MkdirAll(filepath.Join(root, "lib64"), 0o755)
				os.WriteFile(filepath.Join(root, "lib64", "libc.so.6"), []byte("INPUT(-lc)"), 0o644)
			},
			reasonKeys: []string{DimLibc},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tt.build(t, root)
			reasons := map[string]string{}
			lc := probeLibc(context.Background(), root, hostArch, reasons)
			if tt.family == "" {
				if lc != nil {
					t.Fatalf("got %+v, want no libc", lc)
				}
			} else {
				if lc == nil || lc.Family != tt.family {
					t.Fatalf("got %+v (%v), want family %s", lc, reasons, tt.family)
				}
				want := tt.version
				if want == "(real)" {
					want = confstrGlibc(t)
					if w := readelfMaxDef(t, realCxx, "GLIBCXX_"); lc.Libstdcxx != w {
						t.Errorf("libstdc++ %q, want %q", lc.Libstdcxx, w)
					}
				}
				if lc.Version != want {
					t.Errorf("version %q, want %q", lc.Version, want)
				}
			}
			var keys []string
			for k := range reasons {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if strings.Join(keys, ",") != strings.Join(tt.reasonKeys, ",") {
				t.Errorf("reasons %v, want keys %v", reasons, tt.reasonKeys)
			}
		})
	}
}

func TestResolveInRootStaysInside(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "a"), 0o755)
	os.WriteFile(filepath.Join(root, "a", "f"), []byte("x"), 0o644)
	os.Symlink("/a/f", filepath.Join(root, "abs"))
	os.Symlink("../../../../a/f", filepath.Join(root, "a", "up"))
	os.Symlink("loop", filepath.Join(root, "loop"))
	for _, tt := range []struct {
		name, in, want string
		fail           bool
	}{
		{name: "absolute target", in: "/abs", want: filepath.Join(root, "a", "f")},
		{name: "dot-dot cannot climb out", in: "/a/up", want: filepath.Join(root, "a", "f")},
		{name: "loop", in: "/loop", fail: true},
		{name: "missing", in: "/nope", fail: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveInRoot(root, tt.in)
			if tt.fail {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestParseMuslVersion(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"alpine", "musl libc (x86_64)\nVersion 1.2.4\nDynamic Program Loader\nUsage: ...", "1.2.4"},
		{"leading blank lines", "\n\nmusl libc (aarch64)\n  Version 1.1.24\n", "1.1.24"},
		{"glibc loader", "Usage: ld.so [OPTION]...", ""},
		{"no version line", "musl libc (x86_64)\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseMuslVersion(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProbeLibrariesListsSonames(t *testing.T) {
	root := t.TempDir()
	d := filepath.Join(root, "usr", "lib64")
	os.MkdirAll(d, 0o755)
	for _, n := range []string{"libgomp.so.1", "libz.so.1.2.13", "libfoo.so", "notalib.txt"} {
		os.WriteFile(filepath.Join(d, n), nil, 0o644)
	}
	got := strings.Join(probeLibraries(root, hostArch), ",")
	if got != "libgomp.so.1,libz.so.1.2.13" {
		t.Errorf("got %s", got)
	}
}

func FuzzParseMuslVersion(f *testing.F) {
	f.Add("musl libc (x86_64)\nVersion 1.2.4\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		v := ParseMuslVersion(s)
		if v != "" && !regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?$`).MatchString(v) {
			t.Fatalf("ParseMuslVersion gave %q", v)
		}
	})
}
