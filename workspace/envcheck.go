package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/store"
)

// BrokenEnvError is an environment whose record exists but whose directory,
// or the interpreter it runs, is gone. Commands that would run it or link
// into it refuse: run would otherwise fall through to the next python on
// PATH (the host's), and install would rebuild a partial tree with no
// interpreter and report success. It wraps store.ErrNotFound (exit 1).
type BrokenEnvError struct {
	Env     string
	Missing string // what is gone, as a phrase: "its directory /x"
	Fix     string // the commands that recover
}

func (e *BrokenEnvError) Error() string {
	return fmt.Sprintf("environment %s is broken: %s; %s", e.Env, e.Missing, e.Fix)
}

func (e *BrokenEnvError) Unwrap() error { return store.ErrNotFound }

// OpenUsableEnv opens an environment that a command is about to run or
// change, refusing one that is broken (see BrokenEnvError) before anything
// is written. It costs a few stats.
func (w *Workspace) OpenUsableEnv(ctx context.Context, name string) (*Env, error) {
	row, err := w.Store.GetEnv(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := envPresent(row); err != nil {
		// forge env rm removes the directory, then the record, holding the
		// layer's lock: wait for a removal in progress and look again, so
		// that an install racing it says the environment is gone, not
		// broken.
		lk, lerr := w.LockLayer(ctx, &Env{EnvRow: *row, Venv: linker.Venv{Root: row.Path}}, name)
		if lerr == nil {
			lk.Unlock()
		} else if _, gerr := w.Store.GetEnv(ctx, name); errors.Is(gerr, store.ErrNotFound) {
			return nil, lerr
		}
		return nil, err
	}
	e, err := w.OpenEnv(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, p := range e.Chain {
		if err := envPresent(p); err != nil {
			return nil, fmt.Errorf("environment %s: parent: %w", name, err)
		}
	}
	return e, nil
}

// envPresent checks that an environment's directory, its pyvenv.cfg, its
// recorded interpreter and the interpreter bin/python leads to exist.
func envPresent(row *store.EnvRow) error {
	recreate := fmt.Sprintf("forge create %s --python %s", row.Name, PyXY(row.PythonVersion))
	if row.Parent != "" {
		recreate = fmt.Sprintf("forge create %s --parent %s", row.Name, row.Parent)
	}
	broken := func(missing, rm string) error {
		return &BrokenEnvError{Env: row.Name, Missing: missing,
			Fix: fmt.Sprintf("remove its record with '%s' and create it again ('%s')", rm, recreate)}
	}
	rm := "forge env rm " + row.Name
	if fi, err := os.Stat(row.Path); err != nil || !fi.IsDir() {
		return broken("its directory "+row.Path+" is missing", rm)
	}
	if _, err := os.Stat(filepath.Join(row.Path, "pyvenv.cfg")); err != nil {
		return broken("its directory "+row.Path+" has no pyvenv.cfg (it is not a virtual environment any more)", rm)
	}
	// env rm opens the environment to unlink its packages one by one; with
	// the interpreter gone it cannot, and only --force removes it.
	rmForce := "forge env rm " + row.Name + " --force"
	if _, err := os.Stat(row.Python); err != nil {
		return broken(fmt.Sprintf("its interpreter %s (Python %s) is gone", row.Python, row.PythonVersion), rmForce)
	}
	py := filepath.Join(row.Path, "bin", "python")
	if _, err := os.Stat(py); err != nil {
		target, _ := os.Readlink(py)
		if target == "" {
			return broken(py+" is missing", rm)
		}
		return broken(fmt.Sprintf("%s leads to %s, which is gone", py, target), rmForce)
	}
	return nil
}
