package reliability

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/forge-ml/forge/store"
)

// Operations the crash harness interrupts.
const (
	OpInstall   = "install"
	OpUninstall = "uninstall"
	OpCreate    = "create"
	OpEnvRm     = "env-rm"
	OpGC        = "gc"
)

// CrashOptions configure RunCrash.
type CrashOptions struct {
	Bin      string // forge binary
	Dir      string // work directory (homes and wheels go below it)
	Python   string // interpreter for environments ("" = forge's default)
	Trials   int
	Parallel int // workers, each with its own forge home
	Seed     uint64
	// MaxDelay bounds the random kill delay per operation; zero calibrates
	// it from uninterrupted runs of each operation (1.3× the longest).
	MaxDelay time.Duration
	// Log receives one line per trial (nil: none).
	Log io.Writer
	// Ops restricts the operations tried (nil: all of them).
	Ops []string
}

// OpStats counts the trials of one operation.
type OpStats struct {
	Trials int `json:"trials"`
	// Killed: SIGKILL ended the run; Finished: it exited before the kill.
	Killed   int `json:"killed"`
	Finished int `json:"finished"`
	Passed   int `json:"passed"`
}

// CrashReport is what RunCrash did.
type CrashReport struct {
	Seed     uint64              `json:"seed"` // the run's seed: the same one repeats its choices
	Trials   int                 `json:"trials"`
	Passed   int                 `json:"passed"`
	Killed   int                 `json:"killed"`
	ByOp     map[string]*OpStats `json:"by_op"`
	Repairs  int                 `json:"repairs"`         // doctor --fix repairs applied
	Issues   map[string]int      `json:"issues_by_kind"`  // doctor's findings after kills
	Failures []string            `json:"failures"`        // one per failed trial
	Calib    map[string]string   `json:"max_delay_by_op"` // kill window per operation
	Took     string              `json:"took"`
}

// worker owns one forge home.
type worker struct {
	f      Forge
	ws     *WheelSet
	python string
	rng    *rand.Rand
	nextID int
	id     int
}

// RunCrash runs Trials trials. Each picks an operation, runs it against a
// worker's home, kills it with SIGKILL after a random delay, then checks the
// home with Check (AgeStaging, Fix, Python) and runs the operation again
// uninterrupted, which must succeed. A failed trial is reported and its home
// replaced by a fresh one.
func RunCrash(ctx context.Context, o CrashOptions) (*CrashReport, error) {
	start := time.Now()
	if o.Parallel < 1 {
		o.Parallel = 1
	}
	ws, err := WriteWheels(mkdir(filepath.Join(o.Dir, "wheels")))
	if err != nil {
		return nil, err
	}
	rep := &CrashReport{Seed: o.Seed, ByOp: map[string]*OpStats{}, Issues: map[string]int{}, Failures: []string{}, Calib: map[string]string{}}
	ops := []string{OpInstall, OpUninstall, OpCreate, OpEnvRm, OpGC}
	if len(o.Ops) > 0 {
		for _, op := range o.Ops {
			if !slices.Contains(ops, op) {
				return nil, fmt.Errorf("unknown operation %q (want one of %s)", op, strings.Join(ops, ", "))
			}
		}
		ops = o.Ops
	}
	for _, op := range ops {
		rep.ByOp[op] = &OpStats{}
	}
	workers := make([]*worker, o.Parallel)
	for i := range workers {
		w := &worker{ws: ws, python: o.Python, id: i, rng: rand.New(rand.NewPCG(o.Seed, uint64(i)))}
		if err := w.reset(ctx, o); err != nil {
			return nil, err
		}
		workers[i] = w
	}
	window := map[string]time.Duration{}
	for _, op := range ops {
		d := o.MaxDelay
		if d == 0 {
			if d, err = workers[0].calibrate(ctx, op); err != nil {
				return nil, fmt.Errorf("calibrating %s: %w", op, err)
			}
		}
		window[op] = d
		rep.Calib[op] = d.Round(time.Millisecond).String()
	}

	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= o.Trials || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				n := next
				next++
				op := ops[w.rng.IntN(len(ops))]
				mu.Unlock()
				t := w.trial(ctx, n, op, window[op])
				mu.Lock()
				st := rep.ByOp[op]
				st.Trials++
				rep.Trials++
				if t.killed {
					st.Killed++
					rep.Killed++
				} else {
					st.Finished++
				}
				for k, c := range t.issues {
					rep.Issues[k] += c
				}
				rep.Repairs += t.repairs
				if t.err == nil {
					st.Passed++
					rep.Passed++
				} else {
					rep.Failures = append(rep.Failures, fmt.Sprintf("trial %d (%s, kill after %v): %v", n, op, t.delay, t.err))
				}
				if o.Log != nil {
					status := "ok"
					if t.err != nil {
						status = "FAIL: " + t.err.Error()
					}
					fmt.Fprintf(o.Log, "trial %3d %-9s kill@%-8v killed=%-5v issues=%v %s\n", n, op, t.delay.Round(time.Millisecond), t.killed, t.issues, status)
				}
				mu.Unlock()
				if t.err != nil {
					if err := w.reset(ctx, o); err != nil {
						mu.Lock()
						rep.Failures = append(rep.Failures, "reset: "+err.Error())
						next = o.Trials
						mu.Unlock()
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	rep.Took = time.Since(start).Round(time.Second).String()
	return rep, ctx.Err()
}

func mkdir(p string) string {
	os.MkdirAll(p, 0o755)
	return p
}

// reset gives the worker a fresh home with two layered environments.
func (w *worker) reset(ctx context.Context, o CrashOptions) error {
	w.nextID++
	home := filepath.Join(o.Dir, fmt.Sprintf("home-%d-%d", w.id, w.nextID))
	w.f = Forge{Bin: o.Bin, Home: home}
	for _, args := range [][]string{w.createArgs("base", ""), w.createArgs("app", "base")} {
		if r := w.f.Run(ctx, args...); r.Code != 0 {
			return fmt.Errorf("setup: %s", r)
		}
	}
	return nil
}

func (w *worker) createArgs(name, parent string) []string {
	args := []string{"create", name}
	if parent != "" {
		args = append(args, "--parent", parent)
	}
	if w.python != "" {
		args = append(args, "--python", w.python)
	}
	return args
}

type trialResult struct {
	delay   time.Duration
	killed  bool
	issues  map[string]int
	repairs int
	err     error
}

// calibrate times uninterrupted runs of op in the worker's home: one to
// warm caches (the host probe), then three; the window is 1.3× the longest,
// so that kills reach the end of the slow variant (an install that unpacks).
func (w *worker) calibrate(ctx context.Context, op string) (time.Duration, error) {
	var took []time.Duration
	for i := 0; i < 4; i++ {
		args, err := w.prepare(ctx, op)
		if err != nil {
			return 0, err
		}
		r := w.f.Run(ctx, args...)
		if r.Code != 0 {
			return 0, fmt.Errorf("%s", r)
		}
		if i > 0 {
			took = append(took, r.Took)
		}
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	return took[len(took)-1] * 13 / 10, nil
}

// trial runs op, killed after a delay drawn from [0, window), and checks.
func (w *worker) trial(ctx context.Context, n int, op string, window time.Duration) trialResult {
	t := trialResult{}
	args, err := w.prepare(ctx, op)
	if err != nil {
		t.err = fmt.Errorf("preparing: %w", err)
		return t
	}
	t.delay = time.Duration(w.rng.Int64N(int64(window) + 1))
	r := w.f.RunKilled(ctx, t.delay, args...)
	t.killed = r.Killed
	if !r.Killed && r.Code != 0 {
		t.err = fmt.Errorf("uninterrupted run failed: %s", r)
		return t
	}
	v, err := Check(ctx, w.f, CheckOptions{AgeStaging: true, Fix: true, Python: true, Dists: w.ws.Dists})
	if v != nil {
		t.issues, t.repairs = v.Issues, v.Applied
	}
	if err != nil {
		t.err = err
		return t
	}
	if !v.OK() {
		t.err = fmt.Errorf("%d problem(s):\n  %s", len(v.Problems), strings.Join(v.Problems, "\n  "))
		return t
	}
	// The next run succeeds once the crash is repaired.
	if err := w.rerun(ctx, op, args); err != nil {
		t.err = fmt.Errorf("run after repair: %w", err)
	}
	return t
}

// rerun runs the interrupted command again: install and gc must succeed;
// create and env rm must succeed unless the killed run had already
// finished their work (then they say so: exit 1). Uninstall is retryable:
// it must succeed, skipping the names the killed run removed, and may exit
// 1 only when that run had removed all of them; either way none of the
// names may be left in the layer.
func (w *worker) rerun(ctx context.Context, op string, args []string) error {
	r := w.f.Run(ctx, args...)
	if op == OpUninstall {
		if r.Code != 0 && !(r.Code == 1 && strings.Contains(r.Stderr, "not installed")) {
			return fmt.Errorf("%s", r)
		}
		return w.uninstalled(ctx, args)
	}
	if r.Code == 0 {
		return nil
	}
	lost := strings.Contains(r.Stderr, "already exists") || strings.Contains(r.Stderr, "not found")
	if r.Code == 1 && lost && (op == OpCreate || op == OpEnvRm) {
		return nil
	}
	return fmt.Errorf("%s", r)
}

// uninstalled checks that none of the names of args ("uninstall --env
// LAYER NAME...", as prepare writes it) has a manifest in the layer.
func (w *worker) uninstalled(ctx context.Context, args []string) error {
	if len(args) < 4 || args[0] != "uninstall" || args[1] != "--env" {
		return fmt.Errorf("unexpected uninstall command %q", args)
	}
	s, err := w.state(ctx)
	if err != nil {
		return err
	}
	for _, m := range s.manifests[args[2]] {
		if slices.Contains(args[3:], m.NormName) {
			return fmt.Errorf("%s is still installed in %s after %q ran again", m.NormName, args[2], args)
		}
	}
	return nil
}

// state is what a home holds now, read from SQLite.
type state struct {
	envs      []*store.EnvRow
	manifests map[string][]store.Manifest
	entries   int
	unref     int
}

func (w *worker) state(ctx context.Context) (*state, error) {
	st, err := store.Open(w.f.Home)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	s := &state{manifests: map[string][]store.Manifest{}}
	if s.envs, err = st.ListEnvs(ctx); err != nil {
		return nil, err
	}
	ms, err := st.AllManifests(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		s.manifests[m.Layer] = append(s.manifests[m.Layer], m)
	}
	ents, err := st.List(ctx)
	if err != nil {
		return nil, err
	}
	s.entries = len(ents)
	un, err := st.Unreferenced(ctx)
	s.unref = len(un)
	return s, err
}

func (s *state) leaves() []string {
	parents := map[string]bool{}
	for _, e := range s.envs {
		parents[e.Parent] = true
	}
	var out []string
	for _, e := range s.envs {
		if !parents[e.Name] && e.Name != "base" && e.Name != "app" {
			out = append(out, e.Name)
		}
	}
	sort.Strings(out)
	return out
}

// installArgs picks one to three wheels (one version per project), an
// environment, a link mode, and sometimes the GLOBAL layer.
func (w *worker) installArgs(s *state) []string {
	env := s.envs[w.rng.IntN(len(s.envs))].Name
	args := []string{"install", "--env", env, "--link-mode", []string{"symlink", "symlink", "hardlink", "copy"}[w.rng.IntN(4)]}
	if w.rng.IntN(6) == 0 {
		args = append(args, "--global")
	}
	picked := map[string]bool{}
	perm := w.rng.Perm(len(w.ws.Paths))
	want := 1 + w.rng.IntN(3)
	for _, i := range perm {
		p := w.ws.Paths[i]
		name := w.ws.Name(p)
		if picked[name] {
			continue
		}
		picked[name] = true
		args = append(args, p)
		if len(picked) == want {
			break
		}
	}
	// rel-big makes kills land mid-extract: include it often.
	if !picked["rel-big"] && w.rng.IntN(2) == 0 {
		args = append(args, w.ws.ByKey["rel-big-"+[]string{"1.0", "2.0"}[w.rng.IntN(2)]])
	}
	return args
}

// prepare brings the home into a state where op has work to do, with
// uninterrupted commands, and returns op's arguments.
func (w *worker) prepare(ctx context.Context, op string) ([]string, error) {
	s, err := w.state(ctx)
	if err != nil {
		return nil, err
	}
	must := func(args ...string) error {
		if r := w.f.Run(ctx, args...); r.Code != 0 {
			return fmt.Errorf("%s", r)
		}
		return nil
	}
	// Keep the number of environments small.
	for len(s.envs) > 6 {
		leaves := s.leaves()
		if len(leaves) == 0 {
			break
		}
		if err := must("env", "rm", leaves[0]); err != nil {
			return nil, err
		}
		if s, err = w.state(ctx); err != nil {
			return nil, err
		}
	}
	switch op {
	case OpInstall:
		// Half the time empty the store of unused entries first, so that
		// the install has to unpack.
		if w.rng.IntN(2) == 0 {
			if err := must("gc", "--force"); err != nil {
				return nil, err
			}
		}
		return w.installArgs(s), nil
	case OpUninstall, OpGC:
		layers := []string{}
		for l, ms := range s.manifests {
			if len(ms) > 0 && !store.LayerKey(l).IsGlobal() {
				layers = append(layers, l)
			}
		}
		sort.Strings(layers)
		if len(layers) == 0 {
			if err := must(w.installArgs(s)...); err != nil {
				return nil, err
			}
			return w.prepare(ctx, op)
		}
		layer := layers[w.rng.IntN(len(layers))]
		ms := s.manifests[layer]
		args := []string{"uninstall", "--env", layer}
		for _, i := range w.rng.Perm(len(ms))[:1+w.rng.IntN(len(ms))] {
			args = append(args, ms[i].NormName)
		}
		if op == OpUninstall {
			return args, nil
		}
		if s.unref == 0 {
			if err := must(args...); err != nil {
				return nil, err
			}
		}
		return []string{"gc", "--force"}, nil
	case OpCreate:
		w.nextID++
		name := fmt.Sprintf("c%d", w.nextID)
		parent := ""
		if w.rng.IntN(2) == 0 {
			parent = s.envs[w.rng.IntN(len(s.envs))].Name
		}
		return w.createArgs(name, parent), nil
	case OpEnvRm:
		leaves := s.leaves()
		if len(leaves) == 0 {
			w.nextID++
			name := fmt.Sprintf("c%d", w.nextID)
			if err := must(w.createArgs(name, "app")...); err != nil {
				return nil, err
			}
			if w.rng.IntN(2) == 0 {
				if err := must("install", "--env", name, w.ws.ByKey["rel-a-1.0"], w.ws.ByKey["rel-big-1.0"]); err != nil {
					return nil, err
				}
			}
			leaves = []string{name}
		}
		return []string{"env", "rm", leaves[w.rng.IntN(len(leaves))]}, nil
	}
	return nil, fmt.Errorf("unknown operation %q", op)
}
