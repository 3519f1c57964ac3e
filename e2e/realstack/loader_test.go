package realstack

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/forge-ml/forge/probe"
)

// TestLoaderAgreesWithLdd builds a forge base environment with the
// nvidia-*-cu12 wheels, a child with torch, and a plain venv where pip
// installs everything, then runs ldd on every ELF file of each and compares
// the direct needs ldd cannot find with forge's missing_library findings for
// that file (doctor --abi for the forge environments, abi check of all
// wheels for the pip one). The pip-made environment is the reference: there
// every nvidia library resolves through PyPI's RUNPATHs.
func TestLoaderAgreesWithLdd(t *testing.T) {
	t.Parallel()
	c := corpus(t)
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Skip("no ldd on this machine")
	}
	py, err := probe.FindPython("3.13")
	if err != nil {
		t.Skipf("no Python 3.13: %v", err)
	}
	s := LoaderScenario{Forge: forgeBin, Python: py, WheelsDir: filepath.Dir(c.wheels[0]), Work: t.TempDir(), Wheels: c.wheels, Check: checkOnce}
	forgeFiles, pipFiles, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []struct {
		name  string
		files []LoaderFile
	}{{"forge base+child", forgeFiles}, {"pip venv", pipFiles}} {
		f := CountLoader(set.files)
		if f.Files == 0 {
			t.Errorf("%s: no ELF files found: nothing was compared", set.name)
			continue
		}
		t.Logf("%s: ldd vs forge missing_library: %d/%d files agree; (file, soname) pairs: ldd %d, forge %d, both %d",
			set.name, f.FilesAgree, f.Files, f.LddPairs, f.ForgePairs, f.Both)
		if f.FilesAgree != f.Files {
			t.Errorf("%s: forge's missing libraries disagree with ldd on %d of %d files:\n%s", set.name, f.Files-f.FilesAgree, f.Files, LoaderTable(set.files))
		}
	}
	// The reference: in the pip-made venv, PyPI's RUNPATHs find every
	// nvidia library, whatever else the host lacks.
	for _, f := range pipFiles {
		for _, n := range append(append([]string{}, f.Ldd...), f.Transitive...) {
			if nvidiaShipped[n] {
				t.Errorf("pip venv: %s: ldd cannot find %s, which an nvidia-*-cu12 wheel ships", f.Path, n)
			}
		}
	}
}

// nvidiaShipped are the sonames the corpus' nvidia-*-cu12 wheels ship.
var nvidiaShipped = map[string]bool{
	"libcudart.so.12": true, "libcublas.so.12": true, "libcublasLt.so.12": true, "libcufft.so.11": true,
	"libcurand.so.10": true, "libcusparse.so.12": true, "libcusolver.so.11": true, "libnvJitLink.so.12": true,
	"libnvrtc.so.12": true, "libnccl.so.2": true, "libnvToolsExt.so.1": true,
}
