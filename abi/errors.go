package abi

import "errors"

// ErrIncompatible means an ABI policy refused a wheel for a host (exit 3).
var ErrIncompatible = errors.New("refused by ABI policy")
