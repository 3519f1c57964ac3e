package reliability

import (
	"context"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forge-ml/forge/store"
)

// Trust tests: what a user does to a home outside forge (copy or move it,
// lose or empty its database), a killed repair, and two commands on one
// environment at once must never cost the user an environment, a package
// or a store entry. Each is repeated -trust.trials times where timing
// decides the outcome.

var trustTrials = flag.Int("trust.trials", 20, "trials of the kill and race tests in trust_test.go")

// trustHome is a populated home: base (rel-a, rel-data, and the namespace
// pair when gcc is here), app layered on base (rel-b), solo (rel-a 2.0)
// with rel-b in GLOBAL, and a file of the user's in base.
func trustHome(t *testing.T) (Forge, *WheelSet) {
	t.Helper()
	f, ws := wheelHome(t)
	py := testPython(t)
	mustForge(t, f, "create", "base", "--python", py)
	base := []string{"install", "--env", "base", ws.ByKey["rel-a-1.0"], ws.ByKey["rel-data-1.0"]}
	if p, ok := ws.ByKey["nsroot-alpha-1.0"]; ok {
		base = append(base, p, ws.ByKey["nsroot-beta-1.0"])
	}
	mustForge(t, f, base...)
	mustForge(t, f, "create", "app", "--parent", "base")
	mustForge(t, f, "install", "--env", "app", ws.ByKey["rel-b-1.0"])
	mustForge(t, f, "create", "solo", "--python", py)
	mustForge(t, f, "install", "--env", "solo", ws.ByKey["rel-a-2.0"])
	mustForge(t, f, "install", "--env", "solo", "--global", ws.ByKey["rel-b-1.0"])
	if err := os.WriteFile(filepath.Join(f.Home, "envs", "base", "notes.txt"), []byte("the user's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f, ws
}

// healthy checks a home with doctor, doctor --fix and Python (see Check)
// and that doctor found nothing at all before repairing.
func healthy(t *testing.T, f Forge, ws *WheelSet, what string) {
	t.Helper()
	v, err := Check(context.Background(), f, CheckOptions{Fix: true, Python: true, Dists: ws.Dists})
	if err != nil {
		t.Fatal(err)
	}
	for k, n := range v.Issues {
		t.Errorf("%s: doctor: %d %s issue(s)", what, n, k)
	}
	if !v.OK() {
		t.Errorf("%s:\n  %s", what, strings.Join(v.Problems, "\n  "))
	}
	if v.Envs != 3 {
		t.Errorf("%s: python ran in %d environments, want 3", what, v.Envs)
	}
}

// importsFrom returns the directory rel_a is imported from in env.
func importsFrom(t *testing.T, f Forge, env, module string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(f.Home, "envs", env, "bin", "python"), "-c",
		"import os, "+module+" as m; print(os.path.dirname(m.__file__))").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: import %s: %v\n%s", env, module, err, out)
	}
	return strings.TrimSpace(string(out))
}

// homeFiles lists what a user would miss: environment directories, store
// entries and the user's own file.
func homeFiles(t *testing.T, home string) []string {
	t.Helper()
	var out []string
	for _, g := range []string{"envs/*", "store/entries/*", "envs/base/notes.txt", "global/*/lib/*/site-packages/*"} {
		m, _ := filepath.Glob(filepath.Join(home, g))
		for _, p := range m {
			out = append(out, strings.TrimPrefix(p, home))
		}
	}
	return out
}

func cp(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

func TestCopiedHomeIsIndependent(t *testing.T) {
	orig, ws := trustHome(t)
	copyHome := filepath.Join(filepath.Dir(orig.Home), "copy")
	cp(t, "cp", "-a", orig.Home, copyHome)
	cf := Forge{Bin: forgeBin, Home: copyHome}

	healthy(t, cf, ws, "the copy")
	if d := importsFrom(t, cf, "app", "rel_a"); !strings.HasPrefix(d, copyHome+"/") {
		t.Errorf("the copy's app imports rel_a from %s, outside the copy", d)
	}
	mustForge(t, cf, "env", "rm", "app")
	mustForge(t, cf, "uninstall", "--env", "base", "rel-a")
	if _, err := os.Stat(filepath.Join(orig.Home, "envs", "app")); err != nil {
		t.Errorf("env rm in the copy touched the original: %v", err)
	}
	// Deleting the copy leaves the original whole.
	if err := os.RemoveAll(copyHome); err != nil {
		t.Fatal(err)
	}
	healthy(t, orig, ws, "the original after the copy was changed and deleted")
	if d := importsFrom(t, orig, "app", "rel_a"); !strings.HasPrefix(d, orig.Home+"/") {
		t.Errorf("the original's app imports rel_a from %s", d)
	}

	// A moved home works where it is now.
	moved := filepath.Join(filepath.Dir(orig.Home), "moved")
	cp(t, "mv", orig.Home, moved)
	mf := Forge{Bin: forgeBin, Home: moved}
	healthy(t, mf, ws, "the moved home")
	if d := importsFrom(t, mf, "app", "rel_a"); !strings.HasPrefix(d, moved+"/") {
		t.Errorf("the moved home's app imports rel_a from %s", d)
	}
}

// TestLostDatabase empties forge.db, or deletes its -wal and -shm: doctor
// says so (exit 4) and doctor --fix removes nothing.
func TestLostDatabase(t *testing.T) {
	for _, c := range []struct {
		name   string
		copied bool // lost in a copy of the home, the original then deleted
		lose   func(home string) error
	}{
		{"emptied", false, func(home string) error {
			for _, s := range []string{"-wal", "-shm"} {
				os.Remove(filepath.Join(home, "forge.db"+s))
			}
			return os.Truncate(filepath.Join(home, "forge.db"), 0)
		}},
		{"deleted", false, deleteDB},
		{"deleted in a copy", true, deleteDB},
		{"wal lost", false, func(home string) error {
			for _, s := range []string{"-wal", "-shm"} {
				if err := os.Remove(filepath.Join(home, "forge.db"+s)); err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, ws := trustHome(t)
			orig := f.Home
			if c.copied {
				f.Home = orig + "-copy"
				cp(t, "cp", "-a", orig, f.Home)
			}
			before := homeFiles(t, f.Home)
			if err := c.lose(f.Home); err != nil {
				t.Fatal(err)
			}
			rep, r, err := f.doctor(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			lost := false
			for _, is := range rep.Issues {
				lost = lost || is.Kind == "metadata_lost"
			}
			if c.name != "wal lost" && (!lost || r.Code != 4) {
				t.Errorf("doctor on an emptied or deleted database: exit %d, metadata_lost %v\n%s", r.Code, lost, r)
			}
			if lost && r.Code != 4 {
				t.Errorf("metadata_lost with exit %d", r.Code)
			}
			fixed, r, err := f.doctor(context.Background(), "--fix")
			if err != nil {
				t.Fatal(err)
			}
			if lost && (r.Code != 4 || len(fixed.Applied) > 0) {
				t.Errorf("doctor --fix on lost metadata: exit %d, %d fixes applied\n%s", r.Code, len(fixed.Applied), r)
			}
			after := homeFiles(t, f.Home)
			if strings.Join(before, "\n") != strings.Join(after, "\n") {
				t.Errorf("doctor --fix removed what the database did not account for:\nbefore %v\nafter  %v", before, after)
			}
			// The recovery: the records made again from the disk.
			if r := f.Run(context.Background(), "doctor", "--rebuild"); r.Code != 0 {
				t.Fatalf("%s", r)
			}
			if c.copied {
				if err := os.RemoveAll(orig); err != nil {
					t.Fatal(err)
				}
			}
			if r := mustForge(t, f, "gc", "--dry-run"); !strings.Contains(r.Stdout, "no unreferenced store entries") {
				t.Errorf("after --rebuild gc would delete:\n%s", r.Stdout)
			}
			if r := mustForge(t, f, "tree", "--env", "app"); !strings.Contains(r.Stdout, "rel-a") || !strings.Contains(r.Stdout, "rel-b") {
				t.Errorf("after --rebuild tree of app:\n%s", r.Stdout)
			}
			healthy(t, f, ws, "after --rebuild")
			if b, err := os.ReadFile(filepath.Join(f.Home, "envs", "base", "notes.txt")); err != nil || string(b) != "the user's\n" {
				t.Errorf("the user's file: %q, %v", b, err)
			}
		})
	}
}

func deleteDB(home string) error {
	for _, s := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(filepath.Join(home, "forge.db"+s)); err != nil && s == "" {
			return err
		}
	}
	return nil
}

// TestKilledRelinkResumes kills doctor --fix while it relinks a package
// whose link was deleted: the next doctor --fix must link it again, never
// finish the relink as an uninstall.
func TestKilledRelinkResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	f, ws := trustHome(t)
	ctx := context.Background()
	site := func() string {
		m, _ := filepath.Glob(filepath.Join(f.Home, "envs", "base", "lib", "python*", "site-packages"))
		return m[0]
	}()
	breakIt := func() {
		if err := os.Remove(filepath.Join(site, "rel_a")); err != nil {
			t.Fatal(err)
		}
	}
	// The window: the shortest of three whole repairs (a slow one would
	// put most kills after the end).
	var window time.Duration
	for range 3 {
		breakIt()
		cal := f.Run(ctx, "doctor", "--fix")
		if cal.Code != 0 {
			t.Fatalf("%s", cal)
		}
		if window == 0 || cal.Took < window {
			window = cal.Took
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	killed, midRelink, ok := 0, 0, 0
	for i := range *trustTrials {
		breakIt()
		// The relink is the last part of the run: kill in its second half.
		r := f.RunKilled(ctx, window/2+time.Duration(rng.Int64N(int64(window/2)+1)), "doctor", "--fix")
		if r.Killed {
			killed++
			// What the kill left: the row must still be there, and a kill
			// inside the relink leaves it "relinking" (the intent).
			st, err := store.Open(f.Home)
			if err != nil {
				t.Fatal(err)
			}
			m, err := st.ManifestFor(ctx, "base", "rel-a")
			st.Close()
			switch {
			case err != nil:
				t.Errorf("trial %d: the kill lost rel-a's row: %v", i, err)
			case m.State == store.StateRelinking:
				midRelink++
			}
		}
		if r := f.Run(ctx, "doctor", "--fix"); r.Code != 0 {
			t.Errorf("trial %d: %s", i, r)
			continue
		}
		if _, err := exec.Command(filepath.Join(f.Home, "envs", "app", "bin", "python"), "-c", "import rel_a").CombinedOutput(); err != nil {
			t.Errorf("trial %d (killed %v): rel_a is gone from base after the repair", i, r.Killed)
			continue
		}
		// Still recorded: tree lists it and gc would not collect it.
		if tr := f.Run(ctx, "tree", "--env", "base"); !strings.Contains(tr.Stdout, "rel-a") {
			t.Errorf("trial %d: tree no longer lists rel-a:\n%s", i, tr)
			continue
		}
		if g := f.Run(ctx, "gc", "--dry-run"); !strings.Contains(g.Stdout, "no unreferenced store entries") {
			t.Errorf("trial %d: gc would collect:\n%s", i, g)
			continue
		}
		ok++
	}
	t.Logf("killed doctor --fix: %d/%d trials kept rel-a linked (%d killed mid-run, %d of them inside the relink; window %v)", ok, *trustTrials, killed, midRelink, window)
	if killed == 0 {
		t.Error("no run was killed: the window is too short to test anything")
	}
	healthy(t, f, ws, "after the trials")
}

// TestInstallRacesEnvRm runs install and env rm of one environment at the
// same time: whichever goes second sees the first's result, and nothing is
// left without a record.
func TestInstallRacesEnvRm(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	f, ws := trustHome(t)
	ctx := context.Background()
	ok := 0
	for i := range *trustTrials {
		mustForge(t, f, "create", "race", "--parent", "base")
		var wg sync.WaitGroup
		var inst, rm Result
		wg.Add(2)
		go func() {
			defer wg.Done()
			inst = f.Run(ctx, "install", "--env", "race", ws.ByKey["rel-b-1.0"], ws.ByKey["rel-data-1.0"])
		}()
		go func() { defer wg.Done(); rm = f.Run(ctx, "env", "rm", "race") }()
		wg.Wait()
		bad := false
		if rm.Code != 0 {
			t.Errorf("trial %d: env rm: %s", i, rm)
			bad = true
		}
		if inst.Code != 0 && !strings.Contains(inst.Stderr, "no such environment") && !strings.Contains(inst.Stderr, "not found") {
			t.Errorf("trial %d: install failed unclearly: %s", i, inst)
			bad = true
		}
		if _, err := os.Lstat(filepath.Join(f.Home, "envs", "race")); err == nil {
			t.Errorf("trial %d: envs/race left behind (install exit %d, rm exit %d)", i, inst.Code, rm.Code)
			bad = true
		}
		r := f.Run(ctx, "--json", "envs")
		var envs struct{ Envs []struct{ Name string } }
		if err := json.Unmarshal([]byte(r.Stdout), &envs); err != nil {
			t.Fatalf("envs --json: %v\n%s", err, r)
		}
		for _, e := range envs.Envs {
			if e.Name == "race" {
				t.Errorf("trial %d: race still recorded", i)
				bad = true
			}
		}
		if !bad {
			ok++
		}
	}
	t.Logf("install vs env rm: %d/%d trials serial and clean", ok, *trustTrials)
	healthy(t, f, ws, "after the races")
}

// TestTamperedEntryIsQuarantined changes a file of a store entry: doctor
// --verify fails (exit 4) and quarantines it; an install of its wheel
// re-ingests it instead of reusing it, and doctor --verify is clean again.
// A second tampering is repaired by doctor --fix from the wheel forge knows.
func TestTamperedEntryIsQuarantined(t *testing.T) {
	f, ws := trustHome(t)
	ctx := context.Background()
	tamper := func() {
		m, _ := filepath.Glob(filepath.Join(f.Home, "store", "entries", "*", "rel_b", "__init__.py"))
		if len(m) != 1 {
			t.Fatalf("rel_b/__init__.py in the store: %v", m)
		}
		os.Chmod(filepath.Dir(m[0]), 0o755)
		os.Chmod(m[0], 0o644)
		if err := os.WriteFile(m[0], []byte("VERSION = 'tampered'\n"), 0o444); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Dir(m[0]), 0o555)
	}
	tamper()
	if r := f.Run(ctx, "doctor", "--verify"); r.Code != 4 {
		t.Fatalf("doctor --verify on a tampered entry: %s", r)
	}
	r := mustForge(t, f, "install", "--env", "solo", ws.ByKey["rel-b-1.0"])
	if !strings.Contains(r.Stdout+r.Stderr, "re-ingested") {
		t.Errorf("install of the tampered entry's wheel did not re-ingest it:\n%s", r)
	}
	if r := f.Run(ctx, "doctor", "--verify"); r.Code != 0 {
		t.Errorf("after the re-ingest: %s", r)
	}
	tamper()
	if r := f.Run(ctx, "doctor", "--verify"); r.Code != 4 {
		t.Fatalf("doctor --verify on a tampered entry: %s", r)
	}
	if r := f.Run(ctx, "doctor", "--fix"); r.Code != 0 || !strings.Contains(r.Stdout, "reingest") {
		t.Errorf("doctor --fix did not re-ingest:\n%s", r)
	}
	if r := f.Run(ctx, "doctor", "--verify"); r.Code != 0 {
		t.Errorf("after doctor --fix: %s", r)
	}
	healthy(t, f, ws, "after the re-ingests")
}
