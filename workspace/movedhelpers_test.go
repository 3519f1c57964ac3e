package workspace

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/lockfile"
)

// Until lock and sync move out of workspace: copies of wstest's helpers.

// abiTestWheels writes the wheels of the ABI tests into dir, by short name:
//
//	pure   purepkg 1.0, py3-none-any
//	glibc  glibcpkg 1.0, cp311 manylinux_2_34: an extension needing GLIBC_2.34
//	cuda   cudapkg 1.0, cp311 manylinux_2_17: an extension needing
//	       libcudart.so.12 (shipped) with a sm_80 cubin
func abiTestWheels(t *testing.T, dir string) map[string]string {
	t.Helper()
	if !fixtures.HaveGCC() {
		t.Skip("gcc/objcopy not on PATH: cannot build the ELF members")
	}
	build := t.TempDir()
	read := func(p string, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	glibc := read(fixtures.GlibcSO(build, "_ext.so", "2.14", "2.25", "2.34"))
	cudart := read(fixtures.StubLibrary(build, "libcudart.so.12"))
	gpu := read(fixtures.FatbinSO(build, "_gpu.so", fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 80}),
		fixtures.SharedObject{Link: []string{"libcudart.so.12"}}))
	wheels := map[string]fixtures.Wheel{
		"pure": fixtures.PurePackage("purepkg", "1.0"),
		"glibc": {Name: "glibcpkg", Version: "1.0", Tag: "cp311-cp311-manylinux_2_34_x86_64",
			Files: []fixtures.File{{Name: "glibcpkg/__init__.py", Data: []byte("")}, {Name: "glibcpkg/_ext.so", Data: glibc, Mode: 0o755}}},
		"cuda": {Name: "cudapkg", Version: "1.0", Tag: "cp311-cp311-manylinux_2_17_x86_64",
			Files: []fixtures.File{{Name: "cudapkg/__init__.py", Data: []byte("")}, {Name: "cudapkg/_gpu.so", Data: gpu, Mode: 0o755},
				{Name: "cudapkg/lib/libcudart.so.12", Data: cudart, Mode: 0o755}}},
	}
	out := map[string]string{}
	for k, w := range wheels {
		p, err := w.WriteTo(dir)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = p
	}
	return out
}

// abiFleetDir writes the fleet's host profiles into a directory.
func abiFleetDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range fixtures.ProfileNames() {
		b, err := fixtures.ProfileJSON(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeLock(t *testing.T, dir string, l *lockfile.Lock) string {
	t.Helper()
	data, err := lockfile.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "pylock.toml")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
