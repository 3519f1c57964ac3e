package workspace

import (
	"context"
	"errors"
	"fmt"

	"github.com/forge-ml/forge/internal/errkind"
	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/store"
)

// SettingDistutilsShim turns forge's distutils shim on or off (see
// linker.WriteDistutilsShim).
const SettingDistutilsShim = "distutils_shim"

func parseOnOff(s string) (string, error) {
	switch s {
	case "on", "off":
		return s, nil
	}
	return "", errors.New("want on or off")
}

// applyDistutilsShim makes env's site-packages agree with the distutils_shim
// value about to be stored ("" is the default, off), under the
// environment's lock. A file of the shim's names that forge did not write
// refuses "on" (store.ErrExists) and is kept, with a note, by "off". It returns notes for
// the user.
func (w *Workspace) applyDistutilsShim(ctx context.Context, env, value string) ([]string, error) {
	e, err := w.OpenEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	lock, err := w.Store.LockEnv(ctx, e.Name, w.Waiting("environment "+e.Name))
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	var notes []string
	if value != "on" {
		removed, err := linker.RemoveDistutilsShim(e.Venv)
		for _, p := range removed {
			notes = append(notes, "removed "+p)
		}
		if errors.Is(err, linker.ErrNotForgeFile) {
			// Not forge's to remove, and off is what the user wants: the
			// setting is stored, the file named.
			return append(notes, err.Error()), nil
		}
		return notes, err
	}
	if err := linker.WriteDistutilsShim(e.Venv); err != nil {
		if errors.Is(err, linker.ErrNotForgeFile) {
			err = errkind.With(err, store.ErrExists)
		}
		return nil, fmt.Errorf("environment %s: distutils shim not written: %w", e.Name, err)
	}
	if e.Py.Major == 3 && e.Py.Minor < 12 {
		notes = append(notes, fmt.Sprintf("Python %s still has distutils in its standard library: the shim is written but not needed (it only acts when nothing else provides distutils)", e.Py.Version))
	} else {
		notes = append(notes, "distutils comes from setuptools' _distutils when nothing else provides it (install setuptools into this environment or a parent; FORGE_DISTUTILS_SHIM=0 turns it off for one process)")
	}
	return notes, nil
}
