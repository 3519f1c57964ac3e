package reliability

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/forge-ml/forge/store"
)

// ConcurrencyOptions configure RunConcurrency.
type ConcurrencyOptions struct {
	Bin      string
	Dir      string
	Python   string
	Procs    int           // forge processes running at once (default 8)
	Duration time.Duration // how long new operations start (default 10s)
	Seed     uint64
	Log      io.Writer // one line per failed operation (nil: none)
}

// ConcurrencyReport is what RunConcurrency did and found.
type ConcurrencyReport struct {
	Seed       uint64         `json:"seed"` // the run's seed: the same one repeats its choices
	Procs      int            `json:"procs"`
	Seconds    float64        `json:"seconds"`
	Operations int            `json:"operations"`
	ByOp       map[string]int `json:"by_op"`
	// LockWaits counts runs that said they waited for a lock (the only
	// delay forge documents under contention).
	LockWaits int `json:"lock_waits"`
	// LostRaces are runs that failed only because another process got
	// there first, with forge's own message (uninstall of a package another
	// process had just uninstalled).
	LostRaces int      `json:"lost_races"`
	Errors    []string `json:"errors"` // anything else: each one is a failure
	// After the run: entries, manifests, and what Check found.
	Entries   int      `json:"entries"`
	Manifests int      `json:"manifests"`
	Problems  []string `json:"problems"`
	Issues    []string `json:"doctor_issues"`
}

// OK reports whether the run found nothing wrong.
func (r *ConcurrencyReport) OK() bool {
	return len(r.Errors) == 0 && len(r.Problems) == 0 && len(r.Issues) == 0
}

// sharedEnvs are created before the run; every process installs into and
// uninstalls from them. s1 layers on s0, s3 on s2.
var sharedEnvs = [][2]string{{"s0", ""}, {"s1", "s0"}, {"s2", ""}, {"s3", "s2"}}

// RunConcurrency runs Procs loops, each starting one forge process after
// another for Duration: install (sometimes into GLOBAL) and uninstall on
// shared environments, gc --force, doctor, and create / env rm of the
// loop's own environments layered on shared ones. Then it checks the home:
// doctor finds no issue at all, refcounts equal the manifests, every
// manifest's entry and directory exist (nothing referenced was collected),
// one row and one directory per wheel (nothing duplicated), nothing left in
// staging, and Python in every environment sees exactly the recorded
// packages.
func RunConcurrency(ctx context.Context, o ConcurrencyOptions) (*ConcurrencyReport, error) {
	if o.Procs <= 0 {
		o.Procs = 8
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	ws, err := WriteWheels(mkdir(filepath.Join(o.Dir, "wheels")))
	if err != nil {
		return nil, err
	}
	f := Forge{Bin: o.Bin, Home: filepath.Join(o.Dir, "home")}
	pyArgs := func(args []string) []string {
		if o.Python != "" {
			args = append(args, "--python", o.Python)
		}
		return args
	}
	for _, e := range sharedEnvs {
		args := []string{"create", e[0]}
		if e[1] != "" {
			args = append(args, "--parent", e[1])
		}
		if r := f.Run(ctx, pyArgs(args)...); r.Code != 0 {
			return nil, fmt.Errorf("setup: %s", r)
		}
	}
	rep := &ConcurrencyReport{Seed: o.Seed, Procs: o.Procs, ByOp: map[string]int{}, Errors: []string{}, Problems: []string{}, Issues: []string{}}
	var mu sync.Mutex
	record := func(op string, r Result, lost bool) {
		mu.Lock()
		defer mu.Unlock()
		rep.Operations++
		rep.ByOp[op]++
		if strings.Contains(r.Stderr, "waiting for the lock") {
			rep.LockWaits++
		}
		switch {
		case r.Code == 0:
		case lost:
			rep.LostRaces++
		default:
			rep.Errors = append(rep.Errors, r.String())
			if o.Log != nil {
				fmt.Fprintf(o.Log, "FAIL %s\n", r)
			}
		}
	}
	start := time.Now()
	deadline := start.Add(o.Duration)
	var wg sync.WaitGroup
	for i := range o.Procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(o.Seed, uint64(i)))
			var mine []string
			n := 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				shared := sharedEnvs[rng.IntN(len(sharedEnvs))][0]
				switch k := rng.IntN(20); {
				case k < 8:
					args := []string{"install", "--env", shared, "--link-mode", []string{"symlink", "symlink", "hardlink", "copy"}[rng.IntN(4)]}
					if rng.IntN(8) == 0 {
						args = append(args, "--global")
					}
					seen := map[string]bool{}
					for _, j := range rng.Perm(len(ws.Paths))[:1+rng.IntN(3)] {
						if name := ws.Name(ws.Paths[j]); !seen[name] {
							seen[name] = true
							args = append(args, ws.Paths[j])
						}
					}
					record("install", f.Run(ctx, args...), false)
				case k < 13:
					d := ws.Dists[rng.IntN(len(ws.Dists))]
					args := []string{"uninstall", "--env", shared, d.Name}
					if rng.IntN(8) == 0 {
						args = append(args, "--global")
					}
					r := f.Run(ctx, args...)
					record("uninstall", r, r.Code == 1 && strings.Contains(r.Stderr, "is not installed in"))
				case k < 15:
					record("gc", f.Run(ctx, "gc", "--force"), false)
				case k < 16:
					record("doctor", f.Run(ctx, "doctor"), false)
				default:
					if len(mine) > 0 && rng.IntN(2) == 0 {
						name := mine[0]
						mine = mine[1:]
						record("env-rm", f.Run(ctx, "env", "rm", name), false)
						continue
					}
					n++
					name := fmt.Sprintf("p%d-%d", i, n)
					r := f.Run(ctx, pyArgs([]string{"create", name, "--parent", shared})...)
					record("create", r, false)
					if r.Code == 0 {
						mine = append(mine, name)
						record("install", f.Run(ctx, "install", "--env", name, ws.Paths[rng.IntN(len(ws.Paths))]), false)
					}
				}
			}
		}()
	}
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, concurrencyVerdict(ctx, f, ws, rep)
}

// concurrencyVerdict checks the home after the run.
func concurrencyVerdict(ctx context.Context, f Forge, ws *WheelSet, rep *ConcurrencyReport) error {
	v, err := Check(ctx, f, CheckOptions{})
	if err != nil {
		return err
	}
	rep.Problems = append(rep.Problems, v.Problems...)
	for k, n := range v.Issues {
		rep.Issues = append(rep.Issues, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(rep.Issues)
	st, err := store.Open(f.Home)
	if err != nil {
		return err
	}
	ents, err := st.List(ctx)
	if err != nil {
		st.Close()
		return err
	}
	ms, err := st.AllManifests(ctx)
	if err != nil {
		st.Close()
		return err
	}
	dirs, err := st.EntryDirs()
	if err != nil {
		st.Close()
		return err
	}
	staging, err := st.StagingItems()
	st.Close()
	if err != nil {
		return err
	}
	rep.Entries, rep.Manifests = len(ents), len(ms)
	byFile := map[string]int{}
	for _, e := range ents {
		byFile[e.Filename]++
		if byFile[e.Filename] == 2 {
			rep.Problems = append(rep.Problems, "two entries for "+e.Filename)
		}
	}
	if len(dirs) != len(ents) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d store directories for %d entry rows", len(dirs), len(ents)))
	}
	for _, s := range staging {
		rep.Problems = append(rep.Problems, "left in staging: "+s.Name)
	}
	// Python's side; doctor --fix must find nothing to do.
	v, err = Check(ctx, f, CheckOptions{Fix: true, Python: true, Dists: ws.Dists})
	if err != nil {
		return err
	}
	rep.Problems = append(rep.Problems, v.Problems...)
	if v.Applied > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("doctor --fix applied %d repair(s) after a run without crashes", v.Applied))
	}
	return nil
}
