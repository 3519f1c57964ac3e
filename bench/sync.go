package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/forge-ml/forge/fixtures"
)

// syncResult measures forge sync and forge lock on the "many" corpus (200
// pure wheels of 50 files): a lock of an environment of all 200 synced
// into a new environment while every wheel is in the store, against a warm
// forge install of the same wheels into a new environment (sync must cost
// about what install does: it links the same entries after reading a
// lock), and against pip installing the same wheels with --require-hashes
// from a local directory into a fresh venv (what reproducing a lock costs
// without a store).
type syncResult struct {
	Packages int                  `json:"packages"`
	Samples  map[string][]float64 `json:"samples_s"`
	Medians  map[string]float64   `json:"medians_s"`
}

// syncOps are the measured figures.
var syncOps = []string{"forge_lock", "forge_sync", "forge_warm_install", "pip_require_hashes"}

func (b *bench) syncScenario() (*syncResult, error) {
	c, err := loadCorpus(b.o.cache, "many", 1)
	if err != nil {
		return nil, err
	}
	wheelDir := filepath.Dir(c.Wheels[0])
	req := filepath.Join(b.work, "sync-requirements.txt")
	if err := writeHashedRequirements(req, c.Wheels); err != nil {
		return nil, err
	}
	sr := &syncResult{Packages: len(c.Wheels), Samples: map[string][]float64{}, Medians: map[string]float64{}}
	home := filepath.Join(b.work, "sync-home")
	b.discard(home)
	defer b.discard(home)
	// Unmeasured: the store holds every wheel, the source environment links them.
	if _, err := b.forgeCmd(home, "create", "src", "--python", b.o.python, "--without-pip"); err != nil {
		return nil, err
	}
	if _, err := b.forgeCmd(home, append([]string{"install", "--env", "src"}, c.Wheels...)...); err != nil {
		return nil, err
	}
	lock := filepath.Join(b.work, "sync-pylock.toml")
	for rep := 0; rep < b.o.reps; rep++ {
		steps := []struct {
			key string
			f   func() (measurement, error)
		}{
			{"forge_lock", func() (measurement, error) { return b.forgeCmd(home, "lock", "--env", "src", "-o", lock) }},
			{"forge_sync", func() (measurement, error) {
				env := fmt.Sprintf("sync%d", rep)
				if _, err := b.forgeCmd(home, "create", env, "--python", b.o.python, "--without-pip"); err != nil {
					return measurement{}, err
				}
				return b.forgeCmd(home, "sync", lock, "--env", env)
			}},
			{"forge_warm_install", func() (measurement, error) {
				env := fmt.Sprintf("install%d", rep)
				if _, err := b.forgeCmd(home, "create", env, "--python", b.o.python, "--without-pip"); err != nil {
					return measurement{}, err
				}
				return b.forgeCmd(home, append([]string{"install", "--env", env}, c.Wheels...)...)
			}},
			{"pip_require_hashes", func() (measurement, error) {
				d := filepath.Join(b.work, "sync-pip")
				b.discard(d)
				defer b.discard(d)
				if _, err := exe(nil, nil, b.o.python, "-m", "venv", d); err != nil {
					return measurement{}, err
				}
				return exe(nil, nil, filepath.Join(d, "bin", "python"), "-m", "pip", "--disable-pip-version-check", "-q",
					"install", "--require-hashes", "--no-index", "--no-compile", "--find-links", wheelDir, "-r", req)
			}},
		}
		// forge_sync and forge_warm_install alternate who goes first.
		if rep%2 == 1 {
			steps[1], steps[2] = steps[2], steps[1]
		}
		for _, s := range steps {
			syscall.Sync()
			m, err := s.f()
			if err != nil {
				return nil, err
			}
			sr.Samples[s.key] = append(sr.Samples[s.key], m.Seconds)
			logf("sync rep %d: %-18s %8.3fs", rep+1, s.key, m.Seconds)
		}
	}
	for k, v := range sr.Samples {
		sr.Medians[k] = median(v)
	}
	return sr, nil
}

// writeHashedRequirements writes NAME==VERSION --hash=sha256:… for every
// wheel, as pip's --require-hashes mode needs.
func writeHashedRequirements(path string, wheels []string) error {
	var b strings.Builder
	for _, w := range wheels {
		sum, err := fixtures.FileSHA256(w)
		if err != nil {
			return err
		}
		parts := strings.Split(filepath.Base(w), "-")
		fmt.Fprintf(&b, "%s==%s --hash=sha256:%s\n", parts[0], parts[1], sum)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// syncGoals are the goal rows of the sync scenario.
func syncGoals(s *syncResult) []goalRow {
	m := s.Medians
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	name := fmt.Sprintf("sync %d", s.Packages)
	vsInstall := ratio(m["forge_sync"], m["forge_warm_install"])
	vsPip := ratio(m["pip_require_hashes"], m["forge_sync"])
	return []goalRow{
		{name, "sync (all in store) vs warm install", dur(m["forge_sync"]), "install " + dur(m["forge_warm_install"]), vsInstall, "≤ 1.2× install", vsInstall <= 1.2},
		{name, "sync vs pip --require-hashes", dur(m["forge_sync"]), "pip " + dur(m["pip_require_hashes"]), vsPip, "≥ 100× faster", vsPip >= 100},
		{name, "lock of the environment", dur(m["forge_lock"]), "", m["forge_lock"] * 1000, "≤ 50 ms", m["forge_lock"] <= 0.050},
	}
}
