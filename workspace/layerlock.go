package workspace

import (
	"context"
	"fmt"
	"os"

	"github.com/forge-ml/forge/store"
)

// LockLayer takes the exclusive lock of a layer that e's command writes
// into, then checks, under it, that e still exists.
//
// Lock discipline between commands that change one environment: forge env
// rm holds the environment's layer lock from before its first unlink until
// its record is dropped and its directory has left its name. A command that
// links into the environment (install, doctor's relink) holds the same
// lock, and an environment opened before the lock was taken may have been
// removed while it waited: linking then would recreate envs/NAME/lib/…
// (linker.Link makes site-packages) with no record left to own it. So the
// record and the directory are checked again here: an install after env
// rm fails with ErrNotFound, and env rm after an install removes all of it.
func (w *Workspace) LockLayer(ctx context.Context, e *Env, layer string) (*store.Lock, error) {
	lk, err := w.Store.LockLayer(ctx, store.LayerKey(layer), w.Waiting("layer "+LayerLabel(layer)))
	if err != nil {
		return nil, err
	}
	if e == nil || e.Name == "" {
		return lk, nil // GLOBAL alone (doctor): no environment to vanish
	}
	if _, err := w.Store.GetEnv(ctx, e.Name); err != nil {
		lk.Unlock()
		return nil, fmt.Errorf("no such environment: %s (removed while this command waited): %w", e.Name, store.ErrNotFound)
	}
	if _, err := os.Lstat(e.Venv.Root); err != nil {
		lk.Unlock()
		return nil, fmt.Errorf("environment %s: directory %s is missing (forge doctor reports it): %w", e.Name, e.Venv.Root, store.ErrNotFound)
	}
	return lk, nil
}
