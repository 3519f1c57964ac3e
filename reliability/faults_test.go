package reliability

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/forge-ml/forge/store"
)

// Fault tests: a fault makes one forge command fail with a clear error and
// leave nothing half-done; once the fault is gone the same command
// succeeds. The faults are real where the machine allows it (a small tmpfs
// for a full disk, a read-only bind mount, an immutable directory), which
// needs root; without root the tests use permission bits where those are a
// real fault for the running user, and skip otherwise, saying why.

func isRoot() bool { return os.Geteuid() == 0 }

func run(t *testing.T, name string, args ...string) error {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return &exec.ExitError{Stderr: out}
	}
	return nil
}

// mountTmpfs mounts a tmpfs of size on dir for the test, or skips.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if !isRoot() {
		t.Skip("a small filesystem needs root (mount -t tmpfs); not root here")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): the full-disk fault needs one", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
}

// bindReadOnly makes dir a read-only bind mount of itself and returns the
// function that undoes it, or skips.
func bindReadOnly(t *testing.T, dir string) func() {
	t.Helper()
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount %s (%v)", dir, err)
	}
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		unix.Unmount(dir, unix.MNT_DETACH)
		t.Skipf("cannot remount %s read-only (%v)", dir, err)
	}
	done := false
	undo := func() {
		if !done {
			done = true
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	}
	t.Cleanup(undo)
	return undo
}

// fill writes a file on dir's filesystem that leaves about free bytes.
func fill(t *testing.T, dir string, free int64) string {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	avail := int64(st.Bavail) * int64(st.Bsize)
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := avail - free; n > 0 {
		buf := make([]byte, 64<<10)
		for w := int64(0); w < n; {
			k := min(int64(len(buf)), n-w)
			m, err := f.Write(buf[:k])
			w += int64(m)
			if err != nil {
				break
			}
		}
	}
	return p
}

// storeState summarises what the store and SQLite hold.
type storeState struct {
	entries, dirs, staging int
	manifests              map[string][]string // layer -> norm names
}

func readState(t *testing.T, home string) storeState {
	t.Helper()
	st, err := store.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	ents, err := st.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := st.EntryDirs()
	stg, _ := st.StagingItems()
	ms, err := st.AllManifests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := storeState{entries: len(ents), dirs: len(dirs), staging: len(stg), manifests: map[string][]string{}}
	for _, m := range ms {
		s.manifests[m.Layer] = append(s.manifests[m.Layer], m.NormName+":"+string(m.State))
	}
	return s
}

func sameState(t *testing.T, what string, before, after storeState) {
	t.Helper()
	if before.entries != after.entries || before.dirs != after.dirs || after.staging != 0 {
		t.Errorf("%s: store changed: entries %d→%d, directories %d→%d, staging items %d", what, before.entries, after.entries, before.dirs, after.dirs, after.staging)
	}
	if strings.Join(flatten(before.manifests), ",") != strings.Join(flatten(after.manifests), ",") {
		t.Errorf("%s: manifests changed: %v → %v", what, before.manifests, after.manifests)
	}
}

func flatten(m map[string][]string) []string {
	var out []string
	for l, ns := range m {
		for _, n := range ns {
			out = append(out, l+"/"+n)
		}
	}
	sort.Strings(out)
	return out
}

// TestFaultFullDisk puts the whole forge home on an 8 MiB tmpfs, fills it to
// several levels of free space and installs the 3 MiB rel-big: wherever
// the disk runs out (unpacking, fsync, the SQLite commit, a copy-mode
// link), the install either succeeds or fails with "no space left on
// device", reports no package installed, and leaves the store, SQLite and
// the environment as they were (a new store entry aside, when linking
// failed after ingest); with the space back the same install succeeds.
func TestFaultFullDisk(t *testing.T) {
	f, ws := wheelHome(t)
	mountTmpfs(t, f.Home, "8m")
	mustForge(t, f, "create", "app", "--python", testPython(t), "--without-pip") // pip unpacked (8 MiB) would fill the disk
	mustForge(t, f, "install", "--env", "app", ws.ByKey["rel-a-1.0"])            // warms the host and interpreter caches
	failed, linkFailed := 0, 0
	type level struct {
		mode string
		free int64
	}
	var levels []level
	for _, free := range []int64{64 << 10, 1 << 20, 3 << 20, 3400 << 10, 3600 << 10, 4 << 20} {
		levels = append(levels, level{"symlink", free})
	}
	// Copy mode needs rel-big's size twice: with room for the store's
	// copy only, the disk runs out while linking, after ingest succeeded.
	for _, free := range []int64{4 << 20, 5 << 20} {
		levels = append(levels, level{"copy", free})
	}
	for _, lv := range levels {
		free := lv.free
		t.Run(fmt.Sprintf("%s %dKiB free", lv.mode, free>>10), func(t *testing.T) {
			before := readState(t, f.Home)
			filler := fill(t, f.Home, free)
			r := f.Run(context.Background(), "install", "--env", "app", "--link-mode", lv.mode, ws.ByKey["rel-big-1.0"])
			t.Logf("exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))
			if r.Code != 0 {
				failed++
				if r.Code != 1 || !strings.Contains(r.Stderr, "no space left on device") {
					t.Errorf("want exit 1 saying \"no space left on device\":\n%s", r)
				}
				if !strings.Contains(r.Stderr, "rel_big-1.0") && !strings.Contains(r.Stderr, "rel-big") {
					t.Errorf("the error does not name the wheel:\n%s", r.Stderr)
				}
				// Results are reported only once they happened.
				if regexp.MustCompile(`(?m)^installed `).MatchString(r.Stdout) {
					t.Errorf("a failed install reports a package installed:\n%s", r.Stdout)
				}

				after := readState(t, f.Home)
				if strings.Contains(r.Stdout, "not installed rel-big") {
					// Out of space while linking: ingest had finished, and
					// rel-big's entry is complete in the store (gc takes it).
					linkFailed++
					after.entries, after.dirs = after.entries-1, after.dirs-1
				}
				sameState(t, "failed install", before, after)
			}
			os.Remove(filler)
			clean(t, f, ws.Dists)
			mustForge(t, f, "install", "--env", "app", ws.ByKey["rel-big-1.0"])
			clean(t, f, ws.Dists)
			// Next level starts without rel-big in the store.
			mustForge(t, f, "uninstall", "--env", "app", "rel-big")
			mustForge(t, f, "gc", "--force")
		})
	}
	if failed == 0 {
		t.Error("the disk never ran out: the fault was not exercised")
	}
	if linkFailed == 0 {
		t.Error("the disk never ran out while linking: that fault was not exercised")
	}
}

// TestFaultReadOnlyStore makes store/ a read-only bind mount (root) or
// takes its write bits away (other users): a new wheel cannot be ingested
// (a clear error, nothing changed), an entry already in the store can still
// be linked, Python running as root cannot write next to a module, and
// with the store writable again the refused install succeeds.
func TestFaultReadOnlyStore(t *testing.T) {
	f, ws := wheelHome(t)
	py := testPython(t)
	mustForge(t, f, "create", "app", "--python", py)
	mustForge(t, f, "create", "other", "--python", py)
	mustForge(t, f, "install", "--env", "app", ws.ByKey["rel-a-1.0"])
	storeDir := filepath.Join(f.Home, "store")
	var undo func()
	want := "permission denied"
	if isRoot() {
		undo, want = bindReadOnly(t, storeDir), "read-only file system"
	} else {
		for _, d := range []string{storeDir, filepath.Join(storeDir, "entries"), filepath.Join(storeDir, ".staging")} {
			os.Chmod(d, 0o555)
		}
		undo = func() {
			for _, d := range []string{storeDir, filepath.Join(storeDir, "entries"), filepath.Join(storeDir, ".staging")} {
				os.Chmod(d, 0o755)
			}
		}
		t.Cleanup(undo)
	}
	before := readState(t, f.Home)
	r := f.Run(context.Background(), "install", "--env", "app", ws.ByKey["rel-big-1.0"])
	t.Logf("exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))
	if r.Code != 1 || !strings.Contains(r.Stderr, want) {
		t.Errorf("install of a new wheel into a read-only store: want exit 1 saying %q:\n%s", want, r)
	}
	sameState(t, "refused install", before, readState(t, f.Home))
	// Linking what the store already holds needs no write to it.
	mustForge(t, f, "install", "--env", "other", ws.ByKey["rel-a-1.0"])
	if isRoot() {
		out, err := exec.Command(filepath.Join(f.Home, "envs", "app", "bin", "python"), "-c",
			"import rel_a\ntry:\n    open(rel_a.__file__ + 'x', 'w')\nexcept OSError as e:\n    print(e.strerror)\nelse:\n    print('written')").CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != "Read-only file system" {
			t.Errorf("root writing next to its module in a read-only-mounted store: %q, %v", got, err)
		}
	}
	undo()
	mustForge(t, f, "install", "--env", "app", ws.ByKey["rel-big-1.0"])
	clean(t, f, ws.Dists)
}

// TestFaultEnvPermissionDenied makes an environment's site-packages
// unwritable: immutable (chattr +i) as root, mode 0555 for other users.
// Installing into it fails with a clear error and links nothing (the wheel
// may stay in the store, unreferenced, for gc); uninstalling from it fails
// and is finished by the next uninstall once the fault is gone.
func TestFaultEnvPermissionDenied(t *testing.T) {
	f, ws := wheelHome(t)
	mustForge(t, f, "create", "app", "--python", testPython(t))
	mustForge(t, f, "install", "--env", "app", ws.ByKey["rel-a-1.0"])
	sites, _ := filepath.Glob(filepath.Join(f.Home, "envs", "app", "lib", "python*", "site-packages"))
	if len(sites) != 1 {
		t.Fatalf("site-packages: %v", sites)
	}
	site := sites[0]
	want := "permission denied"
	lock := func() { os.Chmod(site, 0o555) }
	unlock := func() { os.Chmod(site, 0o755) }
	if isRoot() {
		want = "operation not permitted"
		lock = func() {
			if err := run(t, "chattr", "+i", site); err != nil {
				t.Skipf("chattr +i %s: %v (root ignores permission bits, so the fault needs an immutable directory)", site, err)
			}
		}
		unlock = func() { run(t, "chattr", "-i", site) }
	}
	t.Cleanup(unlock)

	t.Run("install", func(t *testing.T) {
		lock()
		before := readState(t, f.Home)
		r := f.Run(context.Background(), "install", "--env", "app", ws.ByKey["rel-b-1.0"])
		t.Logf("exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))
		if r.Code != 1 || !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, "rel-b") {
			t.Errorf("want exit 1 naming rel-b and saying %q:\n%s", want, r)
		}
		after := readState(t, f.Home)
		before.entries, before.dirs = after.entries, after.dirs // the ingested entry may stay
		sameState(t, "refused install", before, after)
		unlock()
		clean(t, f, ws.Dists)
		mustForge(t, f, "install", "--env", "app", ws.ByKey["rel-b-1.0"])
		clean(t, f, ws.Dists)
	})
	t.Run("uninstall", func(t *testing.T) {
		lock()
		r := f.Run(context.Background(), "uninstall", "--env", "app", "rel-b")
		t.Logf("exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))
		if r.Code != 1 || !strings.Contains(r.Stderr, want) {
			t.Errorf("want exit 1 saying %q:\n%s", want, r)
		}
		unlock()
		mustForge(t, f, "uninstall", "--env", "app", "rel-b")
		clean(t, f, ws.Dists)
	})
}
