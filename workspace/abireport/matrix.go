package abireport

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// MatrixOptions are the inputs of Matrix: Env, WheelsDir or Lock (one
// of them), and the profiles to check against.
type MatrixOptions struct {
	// Env: the packages the environment sees (its own layer, its parents',
	// GLOBAL; the winner of each name), from their stored fingerprints.
	Env string
	// WheelsDir: every *.whl in the directory (not its subdirectories),
	// fingerprinted from the files; they count as installed together.
	WheelsDir string
	// Lock: every wheel of every package of a PEP 751 lock file, from the
	// store entries with their sha256 (see lockMatrixItems).
	Lock string
	// Profiles are host profile files or directories of *.json (see
	// LoadProfiles).
	Profiles []string
	// Policy: "" is the environment's abi_policy (Env), else the default.
	Policy abi.Policy
}

// MatrixCell is one wheel's verdict on one host. Codes are the distinct
// finding codes, in the order found.
type MatrixCell struct {
	Host     string        `json:"host"`
	Verdict  abi.Outcome   `json:"verdict"`
	Codes    []string      `json:"codes"`
	Findings []abi.Finding `json:"findings"`
}

// MatrixRow is one wheel across the profiles.
type MatrixRow struct {
	Name    string       `json:"name"`
	Version string       `json:"version"`
	Entry   string       `json:"entry,omitempty"` // store entry (Env)
	Layer   string       `json:"layer,omitempty"` // LOCAL, a parent's name, GLOBAL (Env; Lock, when forge wrote it)
	File    string       `json:"file,omitempty"`  // wheel file (WheelsDir), its name (Lock)
	Cells   []MatrixCell `json:"cells"`
}

// MatrixReport is a table of verdicts: Rows (wheels) × Profiles (hosts,
// by name, in the order loaded; every row's cells follow it).
type MatrixReport struct {
	Env       string      `json:"env,omitempty"`
	WheelsDir string      `json:"wheels_dir,omitempty"`
	Lock      string      `json:"lock,omitempty"`
	Policy    abi.Policy  `json:"policy"`
	Profiles  []string    `json:"profiles"`
	Rows      []MatrixRow `json:"rows"`
	Summary   Summary     `json:"summary"`
	// NotCheckable are the locked wheels (Lock) without a verdict.
	NotCheckable []NotCheckable `json:"not_checkable,omitempty"`
}

// matrixItem is one row's input.
type matrixItem struct {
	row   MatrixRow
	fp    *abi.Fingerprint
	entry *store.Entry // the store entry, when the row is one (Env, lock files)
}

// Matrix decides every wheel of an environment, a directory or a lock file for every
// host profile given, under one policy. Each profile describes its target
// host entirely (its Python, libc, GPUs), whatever the environment's own
// interpreter is. Errors: ErrUsage (options, profiles, policy),
// store.ErrNotFound (no such environment, an empty directory, no lock
// file), lockfile's (a malformed lock), store.ErrCorrupt (a locked wheel's
// file that is not what the lock says), and those of FingerprintWheel as
// Check maps them. Locked wheels it cannot check are in NotCheckable,
// not an error: the caller decides.
func Matrix(ctx context.Context, w *workspace.Workspace, o MatrixOptions) (*MatrixReport, error) {
	switch {
	case countSet(o.Env, o.WheelsDir, o.Lock) != 1:
		return nil, fmt.Errorf("give one of an environment, a directory of wheels or a lock file: %w", workspace.ErrUsage)
	case len(o.Profiles) == 0:
		return nil, fmt.Errorf("no host profiles to check against: %w", workspace.ErrUsage)
	}
	hosts, err := workspace.LoadProfiles(o.Profiles)
	if err != nil {
		return nil, err
	}
	rep := &MatrixReport{Env: o.Env, Rows: []MatrixRow{}}
	var items []matrixItem
	var provided abi.CheckOptions
	switch {
	case o.Env != "":
		items, provided, rep.Policy, err = envMatrixItems(ctx, w, o.Env, o.Policy)
	case o.Lock != "":
		if rep.Policy, err = workspace.PolicyOr(o.Policy, ""); err == nil {
			rep.Lock, _ = filepath.Abs(o.Lock)
			items, provided, rep.NotCheckable, err = lockMatrixItems(ctx, w, o.Lock)
		}
	default:
		if rep.Policy, err = workspace.PolicyOr(o.Policy, ""); err == nil {
			rep.WheelsDir, _ = filepath.Abs(o.WheelsDir)
			items, provided, err = dirMatrixItems(ctx, o.WheelsDir)
		}
	}
	if err != nil {
		return nil, err
	}
	for _, h := range hosts {
		rep.Profiles = append(rep.Profiles, workspace.HostName(h))
	}
	for _, it := range items {
		row := it.row
		for _, h := range hosts {
			v := abi.Evaluate(it.fp, h, rep.Policy, provided)
			row.Cells = append(row.Cells, MatrixCell{Host: workspace.HostName(h), Verdict: v.Verdict, Codes: abi.FindingCodes(v.Findings), Findings: v.Findings})
			rep.Summary.add(v.Verdict)
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// envMatrixItems are the packages env sees, nearest layer winning, sorted
// by name; provided are the libraries all its layers ship.
func envMatrixItems(ctx context.Context, w *workspace.Workspace, name string, p abi.Policy) ([]matrixItem, abi.CheckOptions, abi.Policy, error) {
	e, err := w.OpenEnv(ctx, name)
	if err != nil {
		return nil, abi.CheckOptions{}, "", err
	}
	policy, err := workspace.PolicyOr(p, e.Settings["abi_policy"])
	if err != nil {
		return nil, abi.CheckOptions{}, "", err
	}
	wins, provided, err := w.Winners(ctx, e)
	items := make([]matrixItem, len(wins))
	for i, win := range wins {
		en := win.Entry
		items[i] = matrixItem{row: MatrixRow{Name: en.Name, Version: en.Version, Entry: en.SHA256, Layer: win.Layer}, fp: &en.Fingerprint, entry: en}
	}
	return items, provided, policy, err
}

// dirMatrixItems fingerprints every *.whl in dir, in parallel, sorted by
// file name.
func dirMatrixItems(ctx context.Context, dir string) ([]matrixItem, abi.CheckOptions, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, abi.CheckOptions{}, fmt.Errorf("wheels directory: %w", err)
	}
	var paths []string
	for _, de := range ents {
		if strings.HasSuffix(de.Name(), ".whl") && de.Type().IsRegular() {
			paths = append(paths, filepath.Join(dir, de.Name()))
		}
	}
	if len(paths) == 0 {
		return nil, abi.CheckOptions{}, fmt.Errorf("no *.whl file in %s: %w", dir, store.ErrNotFound)
	}
	sort.Strings(paths)
	items := make([]matrixItem, len(paths))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for i, p := range paths {
		g.Go(func() error {
			fp, err := abi.FingerprintWheelContext(gctx, p)
			if err != nil {
				return err
			}
			if err := store.VerifyWheel(gctx, p); err != nil { // as Check
				return err
			}
			abs, _ := filepath.Abs(p)
			items[i] = matrixItem{row: MatrixRow{Name: fp.Name, Version: fp.Version, File: abs}, fp: fp}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, abi.CheckOptions{}, err
	}
	fps := make([]*abi.Fingerprint, len(items))
	for i := range items {
		fps[i] = items[i].fp
	}
	return items, workspace.ShippedLibs(fps...), nil
}
