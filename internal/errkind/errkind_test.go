package errkind_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/forge-ml/forge/internal/errkind"
)

func TestNamed(t *testing.T) {
	corruptWheel := errkind.Named("corrupt wheel", errkind.Corrupt)
	wrapped := fmt.Errorf("wheel x.whl: %w", corruptWheel)
	for _, tc := range []struct {
		name   string
		target error
		want   bool
	}{
		{"its kind", errkind.Corrupt, true},
		{"itself", corruptWheel, true},
		{"another kind", errkind.InvalidWheel, false},
		{"another sentinel of the same kind", errkind.Named("corrupt wheel", errkind.Corrupt), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errors.Is(wrapped, tc.target); got != tc.want {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", wrapped, tc.target, got, tc.want)
			}
		})
	}
	if got, want := wrapped.Error(), "wheel x.whl: corrupt wheel"; got != want {
		t.Errorf("text %q, want %q", got, want)
	}
}
