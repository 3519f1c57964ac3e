package main

import (
	"archive/zip"
	"fmt"
	"os"
	"path/filepath"
)

// scalingResult compares everyday commands on a store of 5,000 entries and
// 200 environments with the same commands on a store of 50 entries and 2
// environments. Every environment links 25 entries in both.
type scalingResult struct {
	SmallEntries int                  `json:"small_entries"`
	SmallEnvs    int                  `json:"small_envs"`
	BigEntries   int                  `json:"big_entries"`
	BigEnvs      int                  `json:"big_envs"`
	Small        map[string][]float64 `json:"small_samples_s"`
	Big          map[string][]float64 `json:"big_samples_s"`
	SmallMedian  map[string]float64   `json:"small_medians_s"`
	BigMedian    map[string]float64   `json:"big_medians_s"`
	Notes        []string             `json:"notes,omitempty"`
}

const perEnv = 25

// scalingOps are the measured commands, in table order.
//
// forge doctor --abi reuses the report of every environment for which
// nothing changed since an earlier check: "doctor --abi" is measured after
// one unmeasured check of each home, and in every repetition after the
// install (into a new environment, removed again), so it re-checks what
// that changed; "doctor --abi --no-cache" re-checks every environment, the
// cost of a first check.
var scalingOps = []string{"install", "inspect", "gc --dry-run", "doctor --abi --env", "doctor --abi", "doctor --abi --no-cache"}

func (b *bench) scaling() (*scalingResult, error) {
	logf("scaling: building the 5,000-wheel corpus (cached)")
	c, err := loadCorpus(b.o.cache, "scale", 1)
	if err != nil {
		return nil, err
	}
	sr := &scalingResult{Small: map[string][]float64{}, Big: map[string][]float64{}, SmallMedian: map[string]float64{}, BigMedian: map[string]float64{}}
	small, err := b.scaleHome("small", c.Wheels, 2)
	if err != nil {
		return nil, err
	}
	big, err := b.scaleHome("big", c.Wheels, 200)
	if err != nil {
		return nil, err
	}
	sr.SmallEntries, sr.SmallEnvs, sr.BigEntries, sr.BigEnvs = 2*perEnv, 2, 200*perEnv, 200
	hasInspect := true
	if _, err := exe(nil, nil, b.forge, "inspect", "--help"); err != nil {
		hasInspect = false
		sr.Notes = append(sr.Notes, "forge inspect does not exist in this build: skipped")
	}
	for _, home := range []string{small, big} {
		if _, err := exe(nil, []int{3}, b.forge, "--home", home, "--quiet", "doctor", "--abi"); err != nil {
			return nil, err
		}
	}
	for rep := 0; rep < b.o.reps; rep++ {
		homes := []struct {
			home string
			out  map[string][]float64
		}{{small, sr.Small}, {big, sr.Big}}
		if rep%2 == 1 {
			homes[0], homes[1] = homes[1], homes[0]
		}
		for _, op := range scalingOps {
			if op == "inspect" && !hasInspect {
				continue
			}
			for _, h := range homes {
				m, err := b.scaleOp(h.home, op, c.Wheels[:perEnv], rep)
				if err != nil {
					return nil, err
				}
				h.out[op] = append(h.out[op], m.Seconds)
				logf("scaling rep %d: %-20s %-5s %8.3fs", rep+1, op, map[bool]string{true: "big", false: "small"}[h.home == big], m.Seconds)
			}
		}
	}
	for k, v := range sr.Small {
		sr.SmallMedian[k] = median(v)
	}
	for k, v := range sr.Big {
		sr.BigMedian[k] = median(v)
	}
	return sr, nil
}

// scaleOp runs one measured command. install goes into a new environment
// (created and removed unmeasured) with 25 wheels already in the store.
func (b *bench) scaleOp(home, op string, wheels []string, rep int) (measurement, error) {
	switch op {
	case "install":
		env := fmt.Sprintf("probe%d", rep)
		if _, err := b.forgeCmd(home, "create", env, "--python", b.o.python); err != nil {
			return measurement{}, err
		}
		m, err := b.forgeCmd(home, append([]string{"install", "--env", env}, wheels...)...)
		if err != nil {
			return m, err
		}
		_, err = b.forgeCmd(home, "env", "rm", env)
		return m, err
	case "inspect":
		return b.forgeCmd(home, "inspect", "sc-0000", "--env", "e000")
	case "gc --dry-run":
		return b.forgeCmd(home, "gc", "--dry-run")
	case "doctor --abi --env":
		return exe(nil, []int{3}, b.forge, "--home", home, "--quiet", "doctor", "--abi", "--env", "e000")
	case "doctor --abi":
		return exe(nil, []int{3}, b.forge, "--home", home, "--quiet", "doctor", "--abi")
	case "doctor --abi --no-cache":
		return exe(nil, []int{3}, b.forge, "--home", home, "--quiet", "doctor", "--abi", "--no-cache")
	}
	return measurement{}, fmt.Errorf("unknown op %s", op)
}

// homeLayout changes whenever forge's on-disk layout does, so that cached
// scaling homes are rebuilt by the forge being measured (l2: environments
// share .dist-info directories and hard-link store symlinks).
const homeLayout = "l2"

// scaleHome builds (once; cached) a forge home of envs environments, each
// linking its own 25 of the wheels.
func (b *bench) scaleHome(name string, wheels []string, envs int) (string, error) {
	home := filepath.Join(b.o.cache, "scale-homes", name+"-"+corpusVersion+"-"+homeLayout)
	done := home + ".complete"
	if _, err := os.Stat(done); err == nil {
		return home, nil
	}
	rmTree(home)
	// Each home in a block group of its own, as for the scratch trees.
	if err := os.MkdirAll(filepath.Dir(home), 0o755); err != nil {
		return "", err
	}
	setTopDir(filepath.Dir(home))
	logf("scaling: building the %s store (%d environments × %d entries)", name, envs, perEnv)
	for i := 0; i < envs; i++ {
		env := fmt.Sprintf("e%03d", i)
		if _, err := b.forgeCmd(home, "create", env, "--python", b.o.python); err != nil {
			return "", err
		}
		if _, err := b.forgeCmd(home, append([]string{"install", "--env", env}, wheels[i*perEnv:(i+1)*perEnv]...)...); err != nil {
			return "", err
		}
	}
	return home, os.WriteFile(done, nil, 0o644)
}

func zipSize(p string) (int, int64, error) {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return 0, 0, err
	}
	defer zr.Close()
	var total int64
	for _, f := range zr.File {
		total += int64(f.UncompressedSize64)
	}
	return len(zr.File), total, nil
}
