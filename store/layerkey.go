package store

import "strings"

// LayerKey names a layer in the store (the manifests' layer column, lock
// names, the ABI cache): an environment's name for its LOCAL layer, or
// "GLOBAL/X.Y" for the implicit global layer of Python X.Y. It is a string
// type so that SQL, JSON and file contents keep their spelling.
type LayerKey string

// globalPrefix starts every global layer's key. No environment name
// contains a '/', so no environment's key starts with it.
const globalPrefix = "GLOBAL/"

// GlobalLayer is the key of the global layer of Python xy ("3.12").
func GlobalLayer(xy string) LayerKey { return LayerKey(globalPrefix + xy) }

// EnvLayer is the key of environment name's own (LOCAL) layer.
func EnvLayer(name string) LayerKey { return LayerKey(name) }

// IsGlobal reports whether k is a global layer's key.
func (k LayerKey) IsGlobal() bool { return strings.HasPrefix(string(k), globalPrefix) }

// XY is the Python version ("3.12") of a global layer's key; "", false
// for an environment's.
func (k LayerKey) XY() (xy string, ok bool) {
	if xy, ok = strings.CutPrefix(string(k), globalPrefix); !ok {
		return "", false
	}
	return xy, true
}

func (k LayerKey) String() string { return string(k) }
