package store_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/store"
)

// TestWheelErrorKinds: abi's wheel errors are the store's kinds, so that
// errors.Is needs no mapping between the two, and neither is the other.
func TestWheelErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"corrupt wheel is an integrity failure", abi.ErrWheelCorrupt, store.ErrCorrupt, true},
		{"invalid wheel is the store's invalid wheel", abi.ErrWheelInvalid, store.ErrInvalid, true},
		{"corrupt wheel is not invalid", abi.ErrWheelCorrupt, store.ErrInvalid, false},
		{"invalid wheel is not corrupt", abi.ErrWheelInvalid, store.ErrCorrupt, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fmt.Errorf("wheel x-1.0-py3-none-any.whl: %w", tc.err)
			if got := errors.Is(err, tc.target); got != tc.want {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", err, tc.target, got, tc.want)
			}
		})
	}
}
