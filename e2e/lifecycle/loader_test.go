package lifecycle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
)

// lddNotFound runs the real loader's resolver over file and returns the
// libraries it cannot find.
func lddNotFound(t *testing.T, file string) []string {
	t.Helper()
	out, _ := run(t, "ldd", file)
	var missing []string
	for _, l := range strings.Split(out, "\n") {
		if name, _, ok := strings.Cut(strings.TrimSpace(l), " => not found"); ok {
			missing = append(missing, name)
		}
	}
	return missing
}

// nvidiaPair is two wheels laid out as NVIDIA's are: nvidia-nsa ships
// nvidia/nsa/lib/libnsa.so.1, whose RUNPATH $ORIGIN/../../nsb/lib climbs
// to nvidia-nsb's nvidia/nsb/lib/libnsb.so.1 (cuSPARSE → nvJitLink).
func nvidiaPair(t *testing.T, dir string) (a, b string) {
	t.Helper()
	build := filepath.Join(dir, "build")
	if err := os.MkdirAll(build, 0o755); err != nil {
		t.Fatal(err)
	}
	libb, err := fixtures.StubLibrary(build, "libnsb.so.1")
	if err != nil {
		t.Fatal(err)
	}
	liba, err := fixtures.BuildSharedObject(build, fixtures.SharedObject{Name: "libnsa.so.1", Soname: "libnsa.so.1",
		Link: []string{"libnsb.so.1"}, Runpath: "$ORIGIN/../../nsb/lib"})
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) []byte {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	f := false
	wa := fixtures.Wheel{Name: "nvidia-nsa-cu12", Version: "1.0", Tag: "py3-none-linux_x86_64", Purelib: &f,
		Files: []fixtures.File{{Name: "nvidia/nsa/__init__.py"}, {Name: "nvidia/nsa/lib/libnsa.so.1", Data: read(liba), Mode: 0o755}}}
	wb := fixtures.Wheel{Name: "nvidia-nsb-cu12", Version: "1.0", Tag: "py3-none-linux_x86_64", Purelib: &f,
		Files: []fixtures.File{{Name: "nvidia/nsb/__init__.py"}, {Name: "nvidia/nsb/lib/libnsb.so.1", Data: read(libb), Mode: 0o755}}}
	if a, err = wa.WriteTo(dir); err != nil {
		t.Fatal(err)
	}
	if b, err = wb.WriteTo(dir); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestLoaderFindsWhatForgeLinks(t *testing.T) {
	if !fixtures.HaveGCC() {
		t.Skip("gcc not available")
	}
	exe, err := probe.FindPython("3.12")
	if err != nil {
		t.Skip("no Python 3.12")
	}
	py, err := probe.Interpreter(exe)
	if err != nil {
		t.Fatal(err)
	}
	w := buildWheels(t, py)
	nsa, nsb := nvidiaPair(t, w.dir)
	home := t.TempDir()
	mustForge(t, home, "create", "base", "--python", exe)
	mustForge(t, home, "install", "--env", "base", nsb, nsa, w.libB)
	site := func(env string) string {
		return filepath.Join(home, "envs", env, "lib", "python"+py.XY(), "site-packages")
	}

	t.Run("namespace sibling in one environment", func(t *testing.T) {
		lib := filepath.Join(site("base"), "nvidia", "nsa", "lib", "libnsa.so.1")
		if m := lddNotFound(t, lib); len(m) > 0 {
			t.Errorf("ldd %s: not found %v", lib, m)
		}
	})

	t.Run("child reaches its parent's libraries", func(t *testing.T) {
		mustForge(t, home, "create", "child", "--parent", "base")
		out := mustForge(t, home, "install", "--env", "child", w.libA)
		if strings.Contains(out, "missing_library") {
			t.Errorf("install reports a missing library although forge links it:\n%s", out)
		}
		ext, _ := filepath.Glob(filepath.Join(site("child"), "pkga", "sub", "_ext*.so"))
		if len(ext) != 1 {
			t.Fatalf("extension module not linked: %v", ext)
		}
		if m := lddNotFound(t, ext[0]); len(m) > 0 {
			t.Errorf("ldd %s: not found %v", ext[0], m)
		}
		got := mustRun(t, filepath.Join(home, "envs", "child", "bin", "python"), "-c", "import pkga.sub._ext as e; print(e.libb_value())")
		if strings.TrimSpace(got) != "1234" {
			t.Errorf("libb_value() = %q", got)
		}
		if out := forge(t, home, "doctor"); out.code != 0 {
			t.Errorf("doctor after a bridged install: exit %d\n%s%s", out.code, out.stdout, out.stderr)
		}
		mustForge(t, home, "uninstall", "--env", "child", "pkga")
		if _, err := os.Lstat(filepath.Join(site("child"), "libb")); err == nil {
			t.Errorf("uninstall left the bridge to the parent's libb behind")
		}
	})
}
