package store

import (
	"context"
	"strings"
)

// forge's cross-process locks, by what they guard. Every lock is taken
// through one of the methods below, never by a name spelled at a call site.
//
// Lock order. A process that holds several takes them in this order, and
// so two processes never wait on each other in a cycle:
//
//  1. gc (LockGC): shared by everything that adds to the store or links
//     (create, install, pip install), exclusive for gc, doctor --fix and
//     --rebuild, and rehome, which may remove or rewrite what others use.
//  2. env-NAME (LockEnv): one environment's record and directory (env rm,
//     create).
//  3. layer-KEY (LockLayer): one layer's links and manifests (install,
//     uninstall, env rm, doctor's relinks). Several are taken in sorted key
//     order.
//  4. ingest-SHA (lockIngest): one store entry while it is staged,
//     committed, viewed or collected. Nothing is taken while one is held.
//
// The TryLock methods never wait, so they may be taken out of order (gc
// tries each environment's lock while it holds gc's).

const gcLockName = "gc"

func envLockName(env string) string { return "env-" + env }

// layerLockName is the lock file of a layer key: "GLOBAL/3.12" has a '/'.
func layerLockName(layer LayerKey) string {
	return "layer-" + strings.ReplaceAll(string(layer), "/", "_")
}

// ingestLockName is the lock of the entry whose digest (or a name that
// starts with its 16-hex-digit prefix) is sha.
func ingestLockName(sha string) string { return "ingest-" + sha[:16] }

// LockGC takes the store-wide gc lock: shared to add or link, exclusive to
// remove or rewrite what others may be using. onWait is as LockFile's.
func (s *Store) LockGC(ctx context.Context, exclusive bool, onWait func()) (*Lock, error) {
	return s.LockFile(ctx, gcLockName, exclusive, onWait)
}

// LockEnv takes environment env's lock, exclusively.
func (s *Store) LockEnv(ctx context.Context, env string, onWait func()) (*Lock, error) {
	return s.LockFile(ctx, envLockName(env), true, onWait)
}

// TryLockEnv is LockEnv without waiting: nil, nil when another holds it.
func (s *Store) TryLockEnv(env string) (*Lock, error) {
	return s.TryLockFile(envLockName(env))
}

// LockLayer takes the lock of the layer with key layer, exclusively.
func (s *Store) LockLayer(ctx context.Context, layer LayerKey, onWait func()) (*Lock, error) {
	return s.LockFile(ctx, layerLockName(layer), true, onWait)
}

// lockIngest takes the lock of the entry sha, exclusively.
func (s *Store) lockIngest(ctx context.Context, sha string) (*Lock, error) {
	return s.LockFile(ctx, ingestLockName(sha), true, nil)
}

// tryLockIngest is lockIngest without waiting: nil, nil when another holds it.
func (s *Store) tryLockIngest(sha string) (*Lock, error) {
	return s.TryLockFile(ingestLockName(sha))
}
