package abi_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/wheel"
)

// Built once per test binary: gcc is slow and the files are read-only inputs.
var (
	elfOnce  sync.Once
	elfDir   string
	elfFiles map[string]string
	elfErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if elfDir != "" {
		os.RemoveAll(elfDir)
	}
	os.Exit(code)
}

// builtELFs returns the fixture ELF files by name, skipping the test without gcc.
func builtELFs(t testing.TB) map[string]string {
	t.Helper()
	elfOnce.Do(func() {
		elfDir, elfErr = os.MkdirTemp("", "forge-abi-elf-")
		if elfErr != nil {
			return
		}
		elfFiles = map[string]string{}
		add := func(name string, f func(dir string) (string, error)) {
			if elfErr != nil {
				return
			}
			dir := filepath.Join(elfDir, name)
			if elfErr = os.MkdirAll(dir, 0o755); elfErr != nil {
				return
			}
			elfFiles[name], elfErr = f(dir)
		}
		glibc := func(vs ...string) func(string) (string, error) {
			return func(dir string) (string, error) { return fixtures.GlibcSO(dir, "_ext.so", vs...) }
		}
		add("glibc217", glibc("2.2.5", "2.17"))
		add("glibc228", glibc("2.14", "2.28"))
		add("glibc234", glibc("2.14", "2.25", "2.34"))
		add("glibc236", glibc("2.36"))
		add("glibcxx", func(dir string) (string, error) {
			return fixtures.BuildSharedObject(dir, fixtures.SharedObject{Name: "_cxx.so",
				Refs: []fixtures.SymbolRef{{Symbol: "memcpy", Version: "GLIBC_2.14"}, fixtures.Glibcxx3429, fixtures.Cxxabi1313}})
		})
		add("isa3", func(dir string) (string, error) { return fixtures.ISALevelSO(dir, "_v3.so", 3) })
		add("isa4", func(dir string) (string, error) { return fixtures.ISALevelSO(dir, "_v4.so", 4) })
		add("cudart12", func(dir string) (string, error) { return fixtures.CUDASO(dir, "_gpu.so", 12, false) })
		add("libcuda", func(dir string) (string, error) { return fixtures.CUDASO(dir, "_drv.so", 0, true) })
		add("stub-cudart12", func(dir string) (string, error) { return fixtures.StubLibrary(dir, "libcudart.so.12") })
		add("needs-foo", func(dir string) (string, error) {
			if _, err := fixtures.StubLibrary(dir, "libfoo.so.1"); err != nil {
				return "", err
			}
			if _, err := fixtures.StubLibrary(dir, "libgomp.so.1"); err != nil {
				return "", err
			}
			return fixtures.BuildSharedObject(dir, fixtures.SharedObject{Name: "_foo.so", Link: []string{"libfoo.so.1", "libgomp.so.1"},
				Runpath: "$ORIGIN/../lib", Refs: []fixtures.SymbolRef{{Symbol: "memcpy", Version: "GLIBC_2.14"}}})
		})
		fat := func(specs ...fixtures.FatbinSpec) func(string) (string, error) {
			return func(dir string) (string, error) {
				return fixtures.FatbinSO(dir, "_kernels.so", fixtures.Fatbin(specs...), fixtures.SharedObject{})
			}
		}
		add("fat-sm80-sm90-ptx90", fat(
			fixtures.FatbinSpec{Kind: "cubin", SM: 80},
			fixtures.FatbinSpec{Kind: "cubin", SM: 90, Compressed: true},
			fixtures.FatbinSpec{Kind: "ptx", SM: 90, PTXVersion: "8.1"}))
		add("fat-sm90a", fat(fixtures.FatbinSpec{Kind: "cubin", SM: 90, ArchSpecific: true}))
		add("fat-ptx80", fat(fixtures.FatbinSpec{Kind: "ptx", SM: 80, PTXVersion: "8.0"}))
		add("fat-ptx80-new", fat(fixtures.FatbinSpec{Kind: "ptx", SM: 80, PTXVersion: "8.5"}))
		add("fat-sm70-sm80", fat(fixtures.FatbinSpec{Kind: "cubin", SM: 70}, fixtures.FatbinSpec{Kind: "cubin", SM: 80}))
		add("musl", func(dir string) (string, error) { return fixtures.MuslSO(dir, "_musl.so") })
		add("musl-exe", func(dir string) (string, error) { return fixtures.MuslExecutable(dir, "tool") })
		add("aarch64", func(dir string) (string, error) { return fixtures.Aarch64SO(dir, "_arm.so") })
	})
	if errors.Is(elfErr, fixtures.ErrNoGCC) {
		t.Skip("gcc/objcopy not on PATH: cannot build ELF fixtures")
	}
	if elfErr != nil {
		t.Fatalf("building ELF fixtures: %v", elfErr)
	}
	return elfFiles
}

// member is one ELF member of a test wheel: its path in the wheel and its bytes.
type member struct {
	path string
	data []byte
}

func fileMember(t testing.TB, wheelPath, file string) member {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return member{wheelPath, data}
}

// fingerprint runs the FingerprintBuilder the way ingest does.
func fingerprint(t testing.TB, filename, metadata string, members ...member) *abi.Fingerprint {
	t.Helper()
	w, err := wheel.ParseFilename(filename)
	if err != nil {
		t.Fatal(err)
	}
	b := abi.NewFingerprintBuilder(w)
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.AddELF(m.path, bytes.NewReader(m.data), int64(len(m.data)))
		}()
	}
	wg.Wait()
	if metadata != "" {
		b.SetMetadata([]byte(metadata))
	}
	fp := b.Finish(len(members) + 3)
	return &fp
}
