package linker

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/forge-ml/forge/probe"
)

// BenchmarkLink links one entry (top-level package dirs, modules and a
// .dist-info) into a fresh layer per iteration, in each mode. Symlink is
// the warm install's cost per package; hardlink and copy scale with files.
func BenchmarkLink(b *testing.B) {
	root := b.TempDir()
	files := map[string]string{
		"benchpkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: benchpkg\nVersion: 1.0\n",
		"benchpkg-1.0.dist-info/WHEEL":    "Wheel-Version: 1.0\n",
		"benchpkg-1.0.dist-info/RECORD":   "",
		"benchmod.py":                     "x = 1\n",
	}
	for i := 0; i < 50; i++ {
		files[fmt.Sprintf("benchpkg/m%d/f%02d.py", i%5, i)] = fmt.Sprintf("v = %d\n", i)
	}
	entry := filepath.Join(root, "entry")
	for p, c := range files {
		fp := filepath.Join(entry, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(fp, []byte(c), 0o444); err != nil {
			b.Fatal(err)
		}
	}
	for _, mode := range []Mode{Symlink, Hardlink, Copy} {
		b.Run(string(mode), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				v := Venv{Root: filepath.Join(b.TempDir(), "env"), Python: &probe.Interp{Major: 3, Minor: 12}}
				if err := os.MkdirAll(v.SitePackages(), 0o755); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := Link(Plan{Layer: v, Launcher: "/usr/bin/python3", EntryDir: entry, StoreRoot: root,
					DistInfo: "benchpkg-1.0.dist-info", Project: "benchpkg", Mode: mode, Requested: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
