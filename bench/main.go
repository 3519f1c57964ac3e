// Command bench measures forge against pip on identical inputs, in one run:
// cold and warm installs, environment creation, disk use of ten
// environments, peak memory of a cold ingest, how install, inspect, gc and
// doctor scale with the size of the store, sync of a 200-package lock, and
// a rollback of a torch-sized environment. Every figure is a median
// of --reps repetitions, forge and its peer alternating; ratios are what
// count (absolute times on a shared machine are context).
//
//	go run ./bench --corpus many,large,mixed --reps 3 [--scale F] [--json FILE] [--wheels DIR]
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

type options struct {
	corpora  []string
	reps     int
	scale    float64
	jsonOut  string
	wheels   string
	python   string
	cache    string
	scaling  bool
	disk     bool
	rollback bool
	sync     bool
	forgeBin string
}

func main() {
	var o options
	var corpora string
	flag.StringVar(&corpora, "corpus", "many,large,mixed", "comma-separated corpora: many, large, mixed (empty for none)")
	flag.IntVar(&o.reps, "reps", 3, "repetitions of every figure (medians are reported)")
	flag.Float64Var(&o.scale, "scale", 1, "size factor of the large and mixed corpora (0.1 for a quick run)")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&o.wheels, "wheels", "", "also benchmark every *.whl in this directory as one corpus")
	flag.StringVar(&o.python, "python", defaultPython(), "Python interpreter for forge's environments and for pip/venv")
	flag.StringVar(&o.cache, "cache", "/tmp/forge-bench", "directory for corpora, the forge binary and scratch environments")
	flag.BoolVar(&o.scaling, "scaling", true, "measure the 5,000-entry/200-environment store against a 50-entry one")
	flag.BoolVar(&o.disk, "disk", true, "measure disk use of 10 environments against the store alone")
	flag.BoolVar(&o.rollback, "rollback", true, "measure forge rollback of a torch-sized environment (30 wheels, 20,000 files)")
	flag.BoolVar(&o.sync, "sync", true, "measure forge sync of a 200-package lock against warm install and pip --require-hashes, and forge lock")
	flag.StringVar(&o.forgeBin, "forge", "", "use this forge binary instead of building ./cmd/forge")
	flag.Parse()
	for _, c := range strings.Split(corpora, ",") {
		if c = strings.TrimSpace(c); c != "" {
			o.corpora = append(o.corpora, c)
		}
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func defaultPython() string {
	root := os.Getenv("PYENV_ROOT")
	if out, err := exec.Command("pyenv", "root").Output(); err == nil {
		root = strings.TrimSpace(string(out))
	}
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".pyenv")
	}
	return filepath.Join(root, "versions", "3.12.1", "bin", "python3")
}

// results is the JSON document.
type results struct {
	Command  string          `json:"command"`
	Machine  string          `json:"machine"`
	Python   string          `json:"python"`
	Reps     int             `json:"reps"`
	Scale    float64         `json:"scale"`
	Corpora  []*corpusResult `json:"corpora"`
	Scaling  *scalingResult  `json:"scaling,omitempty"`
	Rollback *rollbackResult `json:"rollback,omitempty"`
	Sync     *syncResult     `json:"sync,omitempty"`
	// TopDir: whether the scratch directory is marked as a top of
	// hierarchy for ext4's allocator (see setTopDir).
	TopDir   bool      `json:"scratch_topdir"`
	Goals    []goalRow `json:"goals"`
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_s"`
}

type corpusResult struct {
	Name    string               `json:"name"`
	Wheels  int                  `json:"wheels"`
	Members int                  `json:"members"`
	Bytes   int64                `json:"unpacked_bytes"`
	Samples map[string][]float64 `json:"samples_s"`
	Medians map[string]float64   `json:"medians_s"`
	// CreateCost is the mean cost of creating a file on the scratch file
	// system when the corpus started (see settle), in seconds.
	CreateCost float64 `json:"file_create_cost_s"`
	// PeakRSS is the largest max RSS of a cold forge install, in bytes.
	PeakRSS int64 `json:"peak_rss_cold_bytes"`
	// Disk: blocks of the store alone and of the store plus 10 environments.
	DiskStore int64 `json:"disk_store_bytes,omitempty"`
	DiskTen   int64 `json:"disk_store_plus_10_envs_bytes,omitempty"`
}

type goalRow struct {
	Corpus string  `json:"corpus"`
	Figure string  `json:"figure"`
	Forge  string  `json:"forge"`
	Peer   string  `json:"peer"`
	Ratio  float64 `json:"ratio"`
	Goal   string  `json:"goal"`
	Met    bool    `json:"met"`
}

type bench struct {
	o     options
	forge string
	work  string
	res   *results
	// trashed counts the trees discard has set aside.
	trashed int
}

func run(o options) error {
	start := time.Now()
	if _, err := os.Stat(o.python); err != nil {
		return fmt.Errorf("--python %s: %w", o.python, err)
	}
	if err := os.MkdirAll(o.cache, 0o755); err != nil {
		return err
	}
	b := &bench{o: o, work: filepath.Join(o.cache, "work"), res: &results{
		Command: "go run ./bench " + strings.Join(os.Args[1:], " "), Python: o.python, Reps: o.reps, Scale: o.scale, Started: start,
		Machine: machine(),
	}}
	// A previous run's tree is set aside now and removed with this run's
	// scratch at the end: see discard.
	if _, err := os.Lstat(b.work); err == nil {
		if err := os.Rename(b.work, filepath.Join(o.cache, fmt.Sprintf("work-old-%d", start.UnixNano()))); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(b.work, "trash"), 0o755); err != nil {
		return err
	}
	b.res.TopDir = setTopDir(b.work)
	defer b.removeScratch()
	var err error
	if b.forge, err = b.buildForge(); err != nil {
		return err
	}
	var corpora []*corpus
	for _, name := range o.corpora {
		logf("corpus %s: building (cached under %s)", name, o.cache)
		c, err := loadCorpus(o.cache, name, o.scale)
		if err != nil {
			return err
		}
		corpora = append(corpora, c)
	}
	if o.wheels != "" {
		c, err := wheelsIn(o.wheels)
		if err != nil {
			return err
		}
		corpora = append(corpora, c)
	}
	for _, c := range corpora {
		cr, err := b.corpus(c)
		if err != nil {
			return fmt.Errorf("corpus %s: %w", c.Name, err)
		}
		b.res.Corpora = append(b.res.Corpora, cr)
	}
	if o.scaling {
		sr, err := b.scaling()
		if err != nil {
			return fmt.Errorf("scaling: %w", err)
		}
		b.res.Scaling = sr
	}
	if o.rollback {
		rr, err := b.rollback()
		if err != nil {
			return fmt.Errorf("rollback: %w", err)
		}
		b.res.Rollback = rr
	}
	if o.sync {
		sr, err := b.syncScenario()
		if err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		b.res.Sync = sr
	}
	b.res.Goals = goals(b.res)
	b.res.Duration = time.Since(start).Seconds()
	printTable(os.Stdout, b.res)
	if o.jsonOut != "" {
		data, _ := json.MarshalIndent(b.res, "", "  ")
		if err := os.WriteFile(o.jsonOut, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func machine() string {
	host, _ := os.Hostname()
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, model, _ = strings.Cut(l, ": ")
				break
			}
		}
	}
	return fmt.Sprintf("%s: %d CPUs (%s), %s/%s", host, runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func (b *bench) buildForge() (string, error) {
	if b.o.forgeBin != "" {
		return filepath.Abs(b.o.forgeBin)
	}
	out := filepath.Join(b.o.cache, "bin", "forge")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/forge")
	cmd.Env = append(os.Environ(), "CGO_CFLAGS=-O2 -g -Wno-deprecated-declarations")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building forge (run from the repository root): %v\n%s", err, msg)
	}
	return out, nil
}

// measurement of one child process.
type measurement struct {
	Seconds float64
	MaxRSS  int64 // bytes
}

// exe runs a command; exit codes in okCodes besides 0 are accepted.
func exe(env []string, okCodes []int, name string, args ...string) (measurement, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	m := measurement{Seconds: time.Since(t0).Seconds()}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			m.MaxRSS = ru.Maxrss * 1024
		}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		for _, c := range okCodes {
			if ee.ExitCode() == c {
				return m, nil
			}
		}
	}
	if err != nil {
		tail := out.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return m, fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(abbrev(args), " "), err, tail)
	}
	return m, nil
}

func abbrev(args []string) []string {
	if len(args) <= 12 {
		return args
	}
	return append(append(append([]string(nil), args[:8]...), fmt.Sprintf("…(%d more)…", len(args)-10)), args[len(args)-2:]...)
}

func (b *bench) forgeCmd(home string, args ...string) (measurement, error) {
	return exe(nil, nil, b.forge, append([]string{"--home", home, "--quiet"}, args...)...)
}

func (b *bench) venv(dir string) (measurement, error) {
	return exe(nil, nil, b.o.python, "-m", "venv", "--without-pip", dir)
}

func (b *bench) pipInstall(venv string, wheels []string) (measurement, error) {
	args := []string{"-m", "pip", "--python", filepath.Join(venv, "bin", "python"), "--disable-pip-version-check", "-q",
		"install", "--no-deps", "--no-index", "--no-compile"}
	return exe(nil, nil, b.o.python, append(args, wheels...)...)
}

// corpus measures one corpus: per repetition, alternating who goes first,
// cold install, warm install, environment creation and the floor.
func (b *bench) corpus(c *corpus) (*corpusResult, error) {
	cr := &corpusResult{Name: c.Name, Wheels: len(c.Wheels), Samples: map[string][]float64{}, Medians: map[string]float64{}}
	members, bytes, err := corpusSize(c.Wheels)
	if err != nil {
		return nil, err
	}
	cr.Members, cr.Bytes = members, bytes
	logf("corpus %s: %d wheels, %d members, %.1f MiB unpacked", c.Name, len(c.Wheels), members, float64(bytes)/(1<<20))
	cr.CreateCost = b.settle(8 * time.Minute).Seconds()
	logf("corpus %s: creating a file costs %.0f µs", c.Name, cr.CreateCost*1e6)
	add := func(k string, m measurement) { cr.Samples[k] = append(cr.Samples[k], m.Seconds) }
	for rep := 0; rep < b.o.reps; rep++ {
		home := filepath.Join(b.work, "home")
		b.discard(home)
		// Unmeasured: the environment a cold install goes into.
		if _, err := b.forgeCmd(home, "create", "cold", "--python", b.o.python); err != nil {
			return nil, err
		}
		steps := []struct {
			key string
			f   func() (measurement, error)
		}{
			{"forge_cold", func() (measurement, error) {
				m, err := b.forgeCmd(home, append([]string{"install", "--env", "cold"}, c.Wheels...)...)
				cr.PeakRSS = max(cr.PeakRSS, m.MaxRSS)
				return m, err
			}},
			{"pip_cold", func() (measurement, error) { return b.pipFresh("pip-cold", c.Wheels) }},
			{"forge_warm", func() (measurement, error) {
				if _, err := b.forgeCmd(home, "create", "warm", "--python", b.o.python); err != nil {
					return measurement{}, err
				}
				return b.forgeCmd(home, append([]string{"install", "--env", "warm"}, c.Wheels...)...)
			}},
			{"pip_warm", func() (measurement, error) { return b.pipFresh("pip-warm", c.Wheels) }},
			{"forge_create", func() (measurement, error) { return b.forgeCmd(home, "create", "fresh", "--python", b.o.python) }},
			{"venv_create", func() (measurement, error) {
				d := filepath.Join(b.work, "venv-create")
				b.discard(d)
				defer b.discard(d)
				return b.venv(d)
			}},
			{"floor", func() (measurement, error) {
				t0 := time.Now()
				_, err := floor(c.Wheels, runtime.NumCPU())
				return measurement{Seconds: time.Since(t0).Seconds()}, err
			}},
		}
		// Alternate who goes first in each forge/peer pair.
		for i := 0; i < len(steps); i += 2 {
			pair := steps[i:min(i+2, len(steps))]
			if rep%2 == 1 && len(pair) == 2 {
				pair = []struct {
					key string
					f   func() (measurement, error)
				}{pair[1], pair[0]}
			}
			for _, s := range pair {
				// Every step starts with nothing dirty in the page cache:
				// forge's cold install ends with syncfs(2), which writes back
				// everything dirty on the file system, and would otherwise
				// pay for the megabytes pip (which never flushes) left there
				// in the step before.
				syscall.Sync()
				m, err := s.f()
				if err != nil {
					return nil, err
				}
				add(s.key, m)
				logf("corpus %s rep %d: %-12s %8.3fs", c.Name, rep+1, s.key, m.Seconds)
			}
		}
		if rep == 0 && b.o.disk {
			for i := 0; i < 10; i++ {
				env := fmt.Sprintf("disk%d", i)
				if _, err := b.forgeCmd(home, "create", env, "--python", b.o.python); err != nil {
					return nil, err
				}
				if _, err := b.forgeCmd(home, append([]string{"install", "--env", env}, c.Wheels...)...); err != nil {
					return nil, err
				}
			}
			store := filepath.Join(home, "store")
			cr.DiskStore = diskUsage(store)
			// The ten disk environments only: cold/warm/fresh are not counted.
			var envs []string
			for i := 0; i < 10; i++ {
				envs = append(envs, filepath.Join(home, "envs", fmt.Sprintf("disk%d", i)))
			}
			cr.DiskTen = diskUsage(append([]string{store}, envs...)...)
			logf("corpus %s: disk: store %d B, store+10 envs %d B", c.Name, cr.DiskStore, cr.DiskTen)
		}
		b.discard(home)
	}
	for k, v := range cr.Samples {
		cr.Medians[k] = median(v)
	}
	return cr, nil
}

func (b *bench) pipFresh(name string, wheels []string) (measurement, error) {
	d := filepath.Join(b.work, name)
	b.discard(d)
	defer b.discard(d)
	if _, err := b.venv(d); err != nil {
		return measurement{}, err
	}
	return b.pipInstall(d, wheels)
}

func corpusSize(wheels []string) (int, int64, error) {
	var members int
	var total int64
	for _, w := range wheels {
		n, sz, err := zipSize(w)
		if err != nil {
			return 0, 0, err
		}
		members += n
		total += sz
	}
	return members, total, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// diskUsage counts allocated blocks below roots, each inode once (hard
// links), links themselves and not their targets (du -s semantics).
func diskUsage(roots ...string) int64 {
	seen := map[[2]uint64]bool{}
	var total int64
	for _, root := range roots {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			var st syscall.Stat_t
			if syscall.Lstat(p, &st) != nil {
				return nil
			}
			k := [2]uint64{uint64(st.Dev), st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
			total += st.Blocks * 512
			return nil
		})
	}
	return total
}

// rmTree removes a tree that may hold read-only store directories.
func rmTree(root string) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	os.RemoveAll(root)
}
