package reliability

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/forge-ml/forge/fixtures"
)

// storeDigest fingerprints the store's entries (see fixtures.TreeDigest).
func storeDigest(t *testing.T, home string) string {
	t.Helper()
	sum, err := fixtures.TreeDigest(filepath.Join(home, "store", "entries"))
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// integrityHome makes a home with one environment per link mode, each
// holding every wheel of the set (one version per project).
func integrityHome(t *testing.T, python string) (Forge, *WheelSet) {
	t.Helper()
	f, ws := wheelHome(t)
	var wheels []string
	for k, p := range ws.ByKey {
		if !strings.HasSuffix(k, "-2.0") {
			wheels = append(wheels, p)
		}
	}
	sort.Strings(wheels)
	for _, mode := range []string{"symlink", "hardlink", "copy"} {
		mustForge(t, f, "create", mode, "--python", python)
		mustForge(t, f, append([]string{"install", "--env", mode, "--link-mode", mode}, wheels...)...)
	}
	return f, ws
}

// TestStoreIsReadOnly: every directory and file of every entry has no
// write bit, and no link in any environment leaves the store and its
// environment.
func TestStoreIsReadOnly(t *testing.T) {
	f, ws := integrityHome(t, testPython(t))
	n := 0
	filepath.WalkDir(filepath.Join(f.Home, "store", "entries"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || filepath.Dir(p) == filepath.Join(f.Home, "store") {
			return err
		}
		fi, _ := d.Info()
		if fi.Mode().Perm()&0o222 != 0 && p != filepath.Join(f.Home, "store", "entries") {
			t.Errorf("%s is writable (%v)", p, fi.Mode())
		}
		n++
		return nil
	})
	if n < bigMembers {
		t.Errorf("walked %d paths: the store is not populated", n)
	}
	clean(t, f, ws.Dists)
}

// TestLinkCheckCatchesEscapes proves the harness' own link check: a link
// planted in an environment that points outside the store and the
// environment is reported, and doctor reports it too.
func TestLinkCheckCatchesEscapes(t *testing.T) {
	f, _ := integrityHome(t, testPython(t))
	sites, _ := filepath.Glob(filepath.Join(f.Home, "envs", "symlink", "lib", "python*", "site-packages"))
	if len(sites) != 1 {
		t.Fatalf("site-packages: %v", sites)
	}
	if err := os.Symlink("/etc", filepath.Join(sites[0], "escape")); err != nil {
		t.Fatal(err)
	}
	m, err := loadModel(context.Background(), f.Home)
	if err != nil {
		t.Fatal(err)
	}
	v := &Verdict{}
	checkLinkTargets(f.Home, m, v)
	if len(v.Problems) != 1 || !strings.Contains(v.Problems[0], "escape") {
		t.Errorf("link check: %v", v.Problems)
	}
	rep, _, err := f.doctor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Issues) != 1 || rep.Issues[0].Kind != "link_outside_store" {
		t.Errorf("doctor: %+v", rep.Issues)
	}
}

// TestTamperedStoreFile: doctor --verify finds a changed byte, a truncated
// file, a missing file and an added file (exit 4, the path named) and
// quarantines the entry; doctor --fix re-ingests it from the wheel it came
// from, and with that wheel gone papers over nothing (exit 4 again).
func TestTamperedStoreFile(t *testing.T) {
	tampers := []struct {
		name, kind string
		do         func(p string) error
	}{
		{"flipped byte", "hash_mismatch", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x01
			return os.WriteFile(p, b, 0o444)
		}},
		{"truncated", "hash_mismatch", func(p string) error { return os.Truncate(p, 10) }},
		{"deleted", "store_file_missing", os.Remove},
		{"added", "store_file_extra", func(p string) error { return os.WriteFile(p+".evil", []byte("x"), 0o444) }},
	}
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			f, ws := wheelHome(t)
			mustForge(t, f, "create", "app", "--python", testPython(t))
			mustForge(t, f, "install", "--env", "app", ws.ByKey["rel-big-1.0"])
			tamper := func() {
				files, _ := filepath.Glob(filepath.Join(f.Home, "store", "entries", "*", "rel_big", "data", "d07", "f0127.bin"))
				if len(files) != 1 {
					t.Fatalf("store file: %v", files)
				}
				p := files[0]
				dir := filepath.Dir(p)
				os.Chmod(dir, 0o755)
				os.Chmod(p, 0o644)
				if err := tc.do(p); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(p); err == nil {
					os.Chmod(p, 0o444)
				}
				os.Chmod(dir, 0o555)
			}
			names := func(issues []doctorIssue) bool {
				for _, is := range issues {
					if is.Kind == tc.kind && strings.Contains(is.Path, "rel_big/data/d07/f0127.bin") {
						return true
					}
				}
				return false
			}
			tamper()
			rep, r, err := f.doctor(context.Background(), "--verify")
			if err != nil {
				t.Fatal(err)
			}
			if r.Code != 4 || !names(rep.Remaining) {
				t.Errorf("doctor --verify: exit %d (want 4), %s naming the file: %v", r.Code, tc.kind, names(rep.Remaining))
			}
			// The wheel it came from is known: --fix re-ingests it.
			rep, r, err = f.doctor(context.Background(), "--verify", "--fix")
			if err != nil {
				t.Fatal(err)
			}
			reingested := false
			for _, fx := range rep.Applied {
				reingested = reingested || fx.Action == "reingest"
			}
			if r.Code != 0 || !names(rep.Issues) || !reingested || len(rep.Remaining) != 0 {
				t.Errorf("doctor --verify --fix: exit %d, found %v, re-ingested %v, remaining %+v", r.Code, names(rep.Issues), reingested, rep.Remaining)
			}
			if r := f.Run(context.Background(), "doctor", "--verify"); r.Code != 0 {
				t.Errorf("after the re-ingest: %s", r)
			}
			// Without the wheel nothing can restore it: --fix leaves it.
			tamper()
			if err := os.Remove(ws.ByKey["rel-big-1.0"]); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"--verify"}, {"--verify", "--fix"}} {
				rep, r, err := f.doctor(context.Background(), args...)
				if err != nil {
					t.Fatal(err)
				}
				if r.Code != 4 || !names(rep.Remaining) {
					t.Errorf("doctor %v without the wheel: exit %d (want 4), %s naming the file: %v", args, r.Code, tc.kind, names(rep.Remaining))
				}
			}
		})
	}
}

// pyWrite is run inside an environment; it tries to change the store
// through the module's own path and prints what happened to each attempt.
const pyWrite = `
import json, os, rel_a
res = {}
def attempt(name, fn):
    try:
        fn()
        res[name] = "ok"
    except OSError as e:
        res[name] = e.strerror
attempt("create beside", lambda: open(rel_a.__file__ + "x", "w").close())
attempt("append to module", lambda: open(rel_a.__file__, "a").close())
attempt("chmod module", lambda: os.chmod(rel_a.__file__, 0o666))
attempt("remove module", lambda: os.remove(os.path.realpath(rel_a.__file__)))
print(json.dumps(res))
`

// TestEnvCannotWriteStore runs Python inside an environment of each link
// mode and tries to change the store through a module's path: create a file
// beside it, open it for append, chmod it, delete it.
//
// As an ordinary user every attempt on the store fails (permission bits:
// entries are root-owned and read-only). Root ignores permission bits: as
// root, creating a file beside a symlinked module and changing a hardlinked
// one succeed. The test records that honestly and checks the part forge
// can promise: doctor --verify then fails with exit 4. (A read-only bind
// mount of the store stops root too; see TestFaultReadOnlyStore.)
func TestEnvCannotWriteStore(t *testing.T) {
	sys := "/usr/bin/python3.11"
	py := testPython(t)
	if isRoot() {
		if _, err := os.Stat(sys); err != nil {
			t.Skip("running as nobody needs an interpreter outside /root: /usr/bin/python3.11 is absent")
		}
		py = sys // pyenv's interpreters live under /root, closed to nobody
	}
	f, _ := integrityHome(t, py)
	before := storeDigest(t, f.Home)
	for _, mode := range []string{"symlink", "hardlink", "copy"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(f.Home, "envs", mode, "bin", "python"), "-c", pyWrite)
			cmd.Env = cleanEnv()
			if isRoot() {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var res map[string]string
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("%s", out)
			}
			t.Logf("as uid %d: %v", map[bool]int{true: 65534, false: os.Geteuid()}[isRoot()], res)
			for what, got := range res {
				if mode != "copy" && got == "ok" {
					t.Errorf("%s: succeeded", what)
				}
			}
		})
	}
	if after := storeDigest(t, f.Home); after != before {
		t.Error("the store changed")
	}
	if _, r, err := f.doctor(context.Background(), "--verify"); err != nil || r.Code != 0 {
		t.Errorf("doctor --verify: %v\n%s", err, r)
	}

	if !isRoot() {
		return
	}
	// Root: permission bits do not stop it; verification notices.
	for _, mode := range []string{"symlink", "hardlink"} {
		cmd := exec.Command(filepath.Join(f.Home, "envs", mode, "bin", "python"), "-c", pyWrite)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		t.Logf("as root in %s mode: %s", mode, out)
	}
	rep, r, err := f.doctor(context.Background(), "--verify")
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 4 {
		t.Errorf("doctor --verify after root wrote into the store: exit %d, want 4", r.Code)
	}
	kinds := map[string]int{}
	for _, is := range rep.Issues {
		kinds[is.Kind]++
	}
	t.Logf("doctor --verify after root's writes: %v", kinds)
}

// TestPipUninstallLeavesStore: pip uninstall inside environments of every
// link mode removes the package there and changes nothing in the store.
func TestPipUninstallLeavesStore(t *testing.T) {
	py := testPython(t)
	if err := exec.Command(py, "-m", "pip", "--version").Run(); err != nil {
		t.Skipf("%s has no pip", py)
	}
	f, _ := integrityHome(t, py)
	before := storeDigest(t, f.Home)
	for _, mode := range []string{"symlink", "hardlink", "copy"} {
		envPy := filepath.Join(f.Home, "envs", mode, "bin", "python")
		cmd := exec.Command(py, "-m", "pip", "--python", envPy, "uninstall", "-y", "rel-a", "rel-big", "rel-data", "nsroot-beta")
		cmd.Env = append(cleanEnv(), "PIP_DISABLE_PIP_VERSION_CHECK=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			if strings.Contains(string(out), "no such option: --python") {
				t.Skip("pip too old for --python")
			}
			t.Fatalf("pip uninstall in %s: %v\n%s", mode, err, out)
		}
		if out, err := exec.Command(envPy, "-c", "import rel_a").CombinedOutput(); err == nil {
			t.Errorf("%s: rel_a importable after pip uninstall: %s", mode, out)
		}
	}
	if after := storeDigest(t, f.Home); after != before {
		t.Error("pip uninstall changed the store")
	}
	if _, r, err := f.doctor(context.Background(), "--verify"); err != nil || r.Code == 4 {
		t.Errorf("doctor --verify after pip uninstall: %v\n%s", err, r)
	}
}
