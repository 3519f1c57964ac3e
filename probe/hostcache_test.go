package probe

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/forge-ml/forge/abi"
)

// TestHostLibsCache: a cached probe equals a fresh one, a second probe reads
// the cache, and the key follows every file and directory it depends on.
func TestHostLibsCache(t *testing.T) {
	arch := HostArch(runtime.GOARCH)
	cache := t.TempDir()
	fresh, err := Host(WithEnv(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatal(err)
	}
	first, err := Host(WithCacheDir(cache), WithEnv(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fresh.Libc, first.Libc) || !reflect.DeepEqual(fresh.Libraries, first.Libraries) {
		t.Fatalf("cached probe differs: libc %+v vs %+v, %d vs %d libraries", first.Libc, fresh.Libc, len(first.Libraries), len(fresh.Libraries))
	}
	files, _ := filepath.Glob(filepath.Join(cache, "host-libs-*.json"))
	if len(files) != 1 {
		t.Fatalf("cache files: %v", files)
	}
	// A planted entry under the same key is what the next probe returns.
	planted := hostLibs{Libc: &abi.Libc{Family: "glibc", Version: "9.99"}, Libraries: []string{"libplanted.so.1"}}
	if err := os.WriteFile(files[0], mustJSON(planted), 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := Host(WithCacheDir(cache), WithEnv(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatal(err)
	}
	if second.Libc == nil || second.Libc.Version != "9.99" || !reflect.DeepEqual(second.Libraries, planted.Libraries) {
		t.Errorf("second probe did not read the cache: %+v %v", second.Libc, second.Libraries)
	}

	dir := t.TempDir()
	key := func() string { return libsKey(arch, []string{dir}) }
	k0 := key()
	if k0 != key() {
		t.Fatal("key is not stable")
	}
	steps := []struct {
		name   string
		change func() error
	}{
		{"a library appears", func() error { return os.WriteFile(filepath.Join(dir, "libnew.so.1"), nil, 0o644) }},
		{"libc.so.6 appears", func() error { return os.WriteFile(filepath.Join(dir, "libc.so.6"), []byte("x"), 0o644) }},
		{"libc.so.6 is rewritten in place", func() error {
			later := time.Now().Add(time.Hour)
			if err := os.WriteFile(filepath.Join(dir, "libc.so.6"), []byte("y"), 0o644); err != nil {
				return err
			}
			return os.Chtimes(filepath.Join(dir, "libc.so.6"), later, later)
		}},
		{"libstdc++.so.6 links elsewhere", func() error {
			os.WriteFile(filepath.Join(dir, "libstdc++.so.6.0.1"), []byte("a"), 0o644)
			return os.Symlink("libstdc++.so.6.0.1", filepath.Join(dir, "libstdc++.so.6"))
		}},
	}
	prev := k0
	for _, st := range steps {
		// File times come from a clock that ticks every few milliseconds.
		time.Sleep(20 * time.Millisecond)
		if err := st.change(); err != nil {
			t.Fatal(err)
		}
		if k := key(); k == prev {
			t.Errorf("%s: key unchanged", st.name)
		} else {
			prev = k
		}
	}
}
