package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/internal/errkind"
	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/store"
)

// Setting keys of an environment.
const (
	SettingABIPolicy    = "abi_policy"
	SettingLinkMode     = "link_mode"
	SettingResolverMode = "resolver_mode"
)

// SettingSpec describes one environment setting: its valid values, the
// value that applies when it is unset, and how a value is checked.
type SettingSpec struct {
	Key     string
	Values  []string
	Default string
	Doc     string
	parse   func(string) (string, error)
}

// SettingSpecs are the settings an environment accepts, by key.
var SettingSpecs = []SettingSpec{
	{Key: SettingABIPolicy, Values: []string{string(abi.StrictABI), string(abi.WarnABI), string(abi.AllowABI)}, Default: string(abi.DefaultPolicy),
		Doc: "what install does with ABI findings (--abi-policy overrides)",
		parse: func(s string) (string, error) {
			p, err := abi.ParsePolicy(s)
			return string(p), err
		}},
	{Key: SettingLinkMode, Values: []string{string(linker.Symlink), string(linker.Hardlink), string(linker.Copy)}, Default: string(linker.Symlink),
		Doc: "how store files appear in the environment (--link-mode overrides)",
		parse: func(s string) (string, error) {
			m, err := linker.ParseMode(s)
			return string(m), err
		}},
	{Key: SettingResolverMode, Values: []string{resolver.Loose.String(), resolver.Warn.String(), resolver.Strict.String()}, Default: resolver.Warn.String(),
		Doc: "what inspect and tree do with dependency conflicts (--mode overrides)",
		parse: func(s string) (string, error) {
			m, err := resolver.ParseMode(s)
			return m.String(), err
		}},
	{Key: SettingAutoSnapshots, Values: []string{"0.." + strconv.Itoa(maxAutoSnapshots)}, Default: strconv.Itoa(DefaultAutoSnapshots),
		Doc:   "automatic snapshots kept before rollback and sync (0: none)",
		parse: parseAutoSnapshots},
	{Key: SettingDistutilsShim, Values: []string{"on", "off"}, Default: "off",
		Doc:   "on: setuptools' vendored distutils is importable as distutils when nothing else provides it (Python 3.12+)",
		parse: parseOnOff},
}

// SettingKeys lists the valid keys, sorted.
func SettingKeys() []string {
	keys := make([]string, len(SettingSpecs))
	for i, s := range SettingSpecs {
		keys[i] = s.Key
	}
	slices.Sort(keys)
	return keys
}

func settingSpec(key string) (SettingSpec, error) {
	for _, s := range SettingSpecs {
		if s.Key == key {
			return s, nil
		}
	}
	return SettingSpec{}, errkind.With(fmt.Errorf("unknown setting %q: valid keys are %s", key, strings.Join(SettingKeys(), ", ")), ErrUsage)
}

// ValidateSetting checks a key and value and returns the value as stored.
// Errors wrap ErrUsage and list the valid keys or values.
func ValidateSetting(key, value string) (string, error) {
	spec, err := settingSpec(key)
	if err != nil {
		return "", err
	}
	v, err := spec.parse(value)
	if err != nil {
		return "", errkind.With(fmt.Errorf("setting %s: invalid value %q: valid values are %s", key, value, strings.Join(spec.Values, ", ")), ErrUsage)
	}
	return v, nil
}

// Setting is one environment setting's effective value.
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	// Source is "env" when the environment sets it, "default" otherwise.
	Source string   `json:"source"`
	Valid  []string `json:"valid_values"`
}

// SettingsReport is the settings of one environment.
type SettingsReport struct {
	Env      string    `json:"env"`
	Settings []Setting `json:"settings"`
	// Notes say what setting a value did besides storing it (files written
	// or removed); only forge env set has them.
	Notes []string `json:"notes,omitempty"`
}

// Settings returns an environment's settings: every known key (set or
// default) and any other key found in its record, by key; with key given,
// only that one (an unknown key is a usage error).
func (w *Workspace) Settings(ctx context.Context, env, key string) (*SettingsReport, error) {
	row, err := w.Store.GetEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	if key != "" {
		if _, err := settingSpec(key); err != nil {
			return nil, err
		}
	}
	rep := &SettingsReport{Env: row.Name, Settings: []Setting{}}
	seen := map[string]bool{}
	for _, s := range SettingSpecs {
		seen[s.Key] = true
		st := Setting{Key: s.Key, Value: s.Default, Source: "default", Valid: s.Values}
		if v, ok := row.Settings[s.Key]; ok {
			st.Value, st.Source = v, "env"
		}
		rep.Settings = append(rep.Settings, st)
	}
	for k, v := range row.Settings {
		if !seen[k] {
			rep.Settings = append(rep.Settings, Setting{Key: k, Value: v, Source: "env", Valid: []string{}})
		}
	}
	slices.SortFunc(rep.Settings, func(a, b Setting) int { return strings.Compare(a.Key, b.Key) })
	if key != "" {
		rep.Settings = slices.DeleteFunc(rep.Settings, func(s Setting) bool { return s.Key != key })
	}
	return rep, nil
}

// SetSetting validates and stores one setting; value "" removes it, so the
// default applies again. It returns the setting as it now reads.
//
// The change is recorded in the environment's history (see History).
func (w *Workspace) SetSetting(ctx context.Context, env, key, value string) (rep *SettingsReport, err error) {
	if row, gerr := w.Store.GetEnv(ctx, env); gerr == nil {
		args := []string{"set", env, key, value}
		if value == "" {
			args = []string{"unset", env, key}
		}
		op, err := w.BeginHistory(ctx, env, "env", args)
		if err != nil {
			return nil, err
		}
		defer func() {
			after := map[string]string{}
			if r, gerr := w.Store.GetEnv(context.WithoutCancel(ctx), env); gerr == nil {
				after = r.Settings
			}
			op.Finish(ctx, nil, nil, SettingsChanges(row.Settings, after), err)
		}()
	}
	if value == "" {
		if _, err := settingSpec(key); err != nil {
			return nil, err
		}
	} else {
		v, err := ValidateSetting(key, value)
		if err != nil {
			return nil, err
		}
		value = v
	}
	var notes []string
	if key == SettingDistutilsShim {
		// Files first: a refused shim leaves the setting as it was.
		n, err := w.applyDistutilsShim(ctx, env, value)
		if err != nil {
			return nil, err
		}
		notes = n
	}
	if err := w.Store.SetEnvSetting(ctx, env, key, value); err != nil {
		return nil, err
	}
	rep, err = w.Settings(ctx, env, key)
	if rep != nil {
		rep.Notes = notes
	}
	return rep, err
}

// EnvSummary is one line of the environment list.
type EnvSummary struct {
	Name          string            `json:"name"`
	Path          string            `json:"path"`
	Parent        string            `json:"parent"`
	Python        string            `json:"python"`
	PythonVersion string            `json:"python_version"`
	Packages      int               `json:"packages"` // in its LOCAL layer
	Settings      map[string]string `json:"settings"`
}

// Envs lists every environment by name with its LOCAL package count.
func (w *Workspace) Envs(ctx context.Context) ([]EnvSummary, error) {
	rows, err := w.Store.ListEnvs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]EnvSummary, 0, len(rows))
	for _, r := range rows {
		ms, err := w.Store.Manifests(ctx, r.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, EnvSummary{Name: r.Name, Path: r.Path, Parent: r.Parent, Python: r.Python, PythonVersion: r.PythonVersion, Packages: len(ms), Settings: r.Settings})
	}
	return out, nil
}

// RemoveEnvOptions are the inputs of RemoveEnv.
type RemoveEnvOptions struct {
	Env string
	// Force removes the record even when the environment cannot be opened
	// (its interpreter is gone) or its links cannot all be removed: the
	// manifest rows are dropped and the directory deleted regardless.
	Force bool
}

// RemoveEnvReport is what RemoveEnv did.
type RemoveEnvReport struct {
	Env      string    `json:"env"`
	Path     string    `json:"path"`
	Unlinked []Removed `json:"unlinked"`
	Notes    []string  `json:"notes"`
}

// RemoveEnv deletes an environment: every package of its LOCAL layer is
// unlinked (refcounts follow; the store keeps the entries for gc), its
// directory is deleted and its record dropped. An environment that is the
// parent of others is refused (store.ErrExists) with or without Force.
func (w *Workspace) RemoveEnv(ctx context.Context, o RemoveEnvOptions) (*RemoveEnvReport, error) {
	row, err := w.Store.GetEnv(ctx, o.Env)
	if err != nil {
		return nil, err
	}
	if !Within(row.Path, w.EnvsDir()) {
		return nil, fmt.Errorf("environment %s is recorded at %s, outside %s: refusing to remove it: %w", row.Name, row.Path, w.EnvsDir(), store.ErrCorrupt)
	}
	if err := w.refuseChildren(ctx, row.Name); err != nil {
		return nil, err
	}
	envLock, err := w.Store.LockEnv(ctx, row.Name, w.Waiting("environment "+row.Name))
	if err != nil {
		return nil, err
	}
	defer envLock.Unlock()
	layerLock, err := w.Store.LockLayer(ctx, store.EnvLayer(row.Name), w.Waiting("layer LOCAL of "+row.Name))
	if err != nil {
		return nil, err
	}
	defer layerLock.Unlock()

	rep := &RemoveEnvReport{Env: row.Name, Path: row.Path, Unlinked: []Removed{}, Notes: []string{}}
	ms, err := w.Store.Manifests(ctx, row.Name)
	if err != nil {
		return nil, err
	}
	var venv linker.Venv
	e, err := w.OpenEnv(ctx, row.Name)
	if err != nil {
		if !o.Force {
			return nil, fmt.Errorf("environment %s cannot be opened (%v); --force removes it anyway", row.Name, err)
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("environment could not be opened (%v): links were not removed one by one", err))
	} else {
		venv = e.Venv
	}
	for _, m := range ms {
		r := Removed{Name: m.NormName, Entry: m.Entry, Layer: "LOCAL"}
		if en, err := w.Store.Get(ctx, m.Entry); err == nil {
			r.Name, r.Version = en.Name, en.Version
		}
		if e != nil {
			uerr := w.UnlinkManifest(ctx, row.Name, venv, m)
			if uerr == nil {
				rep.Unlinked = append(rep.Unlinked, r)
				continue
			}
			if !o.Force {
				return rep, fmt.Errorf("environment %s: unlinking %s: %w (--force drops it anyway)", row.Name, r.Name, uerr)
			}
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: %v: its record was dropped", r.Name, uerr))
		}
		if err := w.Store.RemoveManifest(ctx, row.Name, m.NormName); err != nil && !errors.Is(err, store.ErrNotFound) {
			return rep, err
		}
		rep.Unlinked = append(rep.Unlinked, r)
	}
	// The directory leaves its name with one rename before the record is
	// dropped and before anything in it is deleted: a crash leaves either
	// the whole environment, or a record without a directory (doctor:
	// env_missing, forgotten by --fix) and a hidden .NAME.removing-* tree
	// (stale staging), never a half-deleted environment under its name.
	trash, note, err := w.retireEnvDir(row.Path)
	if err != nil {
		if !o.Force {
			return rep, fmt.Errorf("environment %s: %w", row.Name, err)
		}
		rep.Notes = append(rep.Notes, err.Error())
	} else if note != "" {
		rep.Notes = append(rep.Notes, note)
	}
	restore := func() {
		if trash != "" {
			os.Rename(trash, row.Path)
		}
	}
	// Check again under the lock: a child created meanwhile keeps the record.
	if err := w.refuseChildren(ctx, row.Name); err != nil {
		restore()
		return rep, err
	}
	if err := w.Store.RemoveEnv(ctx, row.Name); err != nil {
		restore()
		return rep, err
	}
	if trash != "" {
		if err := os.RemoveAll(trash); err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s left behind (%v): forge gc --force removes it", trash, err))
		}
	}
	return rep, nil
}

func (w *Workspace) refuseChildren(ctx context.Context, name string) error {
	kids, err := w.Store.Children(ctx, name)
	if err != nil {
		return err
	}
	if len(kids) == 0 {
		return nil
	}
	names := make([]string, len(kids))
	for i, k := range kids {
		names[i] = k.Name
	}
	// --force does not override this (a child would lose its parent's
	// packages), so the message does not offer it.
	// Re-creating a project environment is what a test environment on it
	// (forge env test) would block: say how to change it without that.
	return errkind.With(fmt.Errorf("environment %s has child environments %s: remove them first (forge env rm %s), or change %s in place (forge install / forge uninstall --env %s): its children see the change",
		name, strings.Join(names, ", "), names[0], name, name), store.ErrExists)
}

// retireEnvDir renames an environment's directory to a hidden
// .NAME.removing-* beside it, which the caller deletes once the record is
// gone (or renames back). It takes only a
// directory that is a virtual environment (has pyvenv.cfg) or sits under
// forge's envs directory, so a damaged record cannot make forge delete an
// arbitrary tree. os.RemoveAll never follows links, so nothing in the store
// is touched; directories made read-only by copy mode are made writable
// first (never files: a hardlinked file shares its inode with the store).
func (w *Workspace) retireEnvDir(path string) (trash, note string, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", "directory " + path + " was already gone", nil
	}
	if err != nil {
		return "", "", err
	}
	if !fi.IsDir() {
		return "", "", fmt.Errorf("%s is not a directory: left in place", path)
	}
	_, cfgErr := os.Stat(filepath.Join(path, "pyvenv.cfg"))
	rel, relErr := filepath.Rel(w.EnvsDir(), path)
	under := relErr == nil && rel != "." && !strings.HasPrefix(rel, "..")
	if cfgErr != nil && !under {
		return "", "", fmt.Errorf("%s is neither a virtual environment nor under %s: left in place", path, w.EnvsDir())
	}
	filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if info, ierr := d.Info(); ierr == nil && info.Mode().Perm()&0o700 != 0o700 {
				os.Chmod(p, info.Mode().Perm()|0o700)
			}
		}
		return nil
	})
	trash = filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".removing-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := os.Rename(path, trash); err != nil {
		return "", "", err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return trash, "", nil
}

// removeEnvDir retires an environment's directory and deletes it at once.
func (w *Workspace) removeEnvDir(path string) (string, error) {
	trash, note, err := w.retireEnvDir(path)
	if err != nil || trash == "" {
		return note, err
	}
	return note, os.RemoveAll(trash)
}

// SettingAutoSnapshots bounds the automatic snapshots kept per environment.
const SettingAutoSnapshots = "auto_snapshots"

// DefaultAutoSnapshots is auto_snapshots when unset.
const DefaultAutoSnapshots = 5

// maxAutoSnapshots bounds the setting: each snapshot keeps its entries
// from gc.
const maxAutoSnapshots = 1000

func parseAutoSnapshots(s string) (string, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > maxAutoSnapshots {
		return "", fmt.Errorf("not an integer from 0 to %d", maxAutoSnapshots)
	}
	return strconv.Itoa(n), nil
}
