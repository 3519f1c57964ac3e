package main

import (
	"fmt"
	"path/filepath"
	"strings"
)

// rollbackResult measures forge rollback on a torch-sized environment (30
// wheels, ≈20,000 files): the torch-like package swapped between two
// versions by a rollback, against the same swap made by a warm forge
// install NAME==VERSION, and a rollback with nothing to change.
type rollbackResult struct {
	Wheels  int                  `json:"wheels"`
	Files   int                  `json:"files"`
	Samples map[string][]float64 `json:"samples_s"`
	Medians map[string]float64   `json:"medians_s"`
}

// rollbackGoal is the target for a rollback of a torch-sized environment.
const rollbackGoal = 0.050

func (b *bench) rollback() (*rollbackResult, error) {
	logf("rollback: building the corpus (cached)")
	c, err := loadCorpus(b.o.cache, "rollback", 1)
	if err != nil {
		return nil, err
	}
	var base []string // everything but rbtorch 2.5.0
	var upgrade string
	for _, w := range c.Wheels {
		if strings.HasPrefix(filepath.Base(w), "rbtorch-2.5.0-") {
			upgrade = w
			continue
		}
		base = append(base, w)
	}
	files, _, err := corpusSize(base)
	if err != nil {
		return nil, err
	}
	r := &rollbackResult{Wheels: len(base), Files: files, Samples: map[string][]float64{}, Medians: map[string]float64{}}
	home := filepath.Join(b.work, "rollback-home")
	b.discard(home)
	defer b.discard(home)
	// Unmeasured: the environment at 2.4.0 (snapshot "base"), then at
	// 2.5.0 (snapshot "upgraded").
	setup := [][]string{
		{"create", "app", "--python", b.o.python},
		append([]string{"install", "--env", "app"}, base...),
		{"snapshot", "app", "base"},
		{"install", "--env", "app", upgrade},
		{"snapshot", "app", "upgraded"},
	}
	for _, args := range setup {
		if _, err := b.forgeCmd(home, args...); err != nil {
			return nil, err
		}
	}
	type step struct {
		key  string
		args []string
	}
	// Each repetition starts at 2.5.0 and ends there. Even ones go down
	// with a rollback and up with an install (the peer: the same change,
	// the entry already in the store); odd ones the other way round, so
	// that each is measured in both directions. After the rollback, a
	// second one finds nothing to change.
	for rep := 0; rep < b.o.reps; rep++ {
		steps := []step{
			{"rollback", []string{"rollback", "app", "base"}},
			{"rollback_noop", []string{"rollback", "app", "base"}},
			{"install_same_change", []string{"install", "--env", "app", "rbtorch==2.5.0"}},
		}
		if rep%2 == 1 {
			steps = []step{
				{"install_same_change", []string{"install", "--env", "app", "rbtorch==2.4.0"}},
				{"rollback", []string{"rollback", "app", "upgraded"}},
				{"rollback_noop", []string{"rollback", "app", "upgraded"}},
			}
		}
		for _, s := range steps {
			m, err := b.forgeCmd(home, s.args...)
			if err != nil {
				return nil, err
			}
			r.Samples[s.key] = append(r.Samples[s.key], m.Seconds)
			logf("rollback rep %d: %-20s %8.3fs", rep+1, s.key, m.Seconds)
		}
	}
	for k, v := range r.Samples {
		r.Medians[k] = median(v)
	}
	return r, nil
}

// rollbackGoals are the rollback rows of the goal table.
func rollbackGoals(r *rollbackResult) []goalRow {
	if r == nil {
		return nil
	}
	rb, in := r.Medians["rollback"], r.Medians["install_same_change"]
	ratio := 0.0
	if in > 0 {
		ratio = rb / in
	}
	name := fmt.Sprintf("rollback (%d wheels, %d files)", r.Wheels, r.Files)
	return []goalRow{
		{"rollback", name, dur(rb), "install of the same change " + dur(in), ratio, fmt.Sprintf("≤ %s", dur(rollbackGoal)), rb <= rollbackGoal},
		{"rollback", "rollback, nothing to change", dur(r.Medians["rollback_noop"]), "rollback " + dur(rb), ratio0(r.Medians["rollback_noop"], rb), fmt.Sprintf("≤ %s", dur(rollbackGoal)), r.Medians["rollback_noop"] <= rollbackGoal},
	}
}

func ratio0(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
