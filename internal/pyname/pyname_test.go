package pyname_test

import (
	"testing"

	"github.com/forge-ml/forge/internal/pyname"
)

func TestNames(t *testing.T) {
	for _, tc := range []struct{ in, norm, distInfo string }{
		{"numpy", "numpy", "numpy"},
		{"Foo_Bar", "foo-bar", "foo_bar"},
		{"FOO.bar", "foo-bar", "foo_bar"},
		{"a__b--c..d", "a-b-c-d", "a_b_c_d"},
		{"x-_.-y", "x-y", "x_y"},
		{"NVIDIA-cublas-cu12", "nvidia-cublas-cu12", "nvidia_cublas_cu12"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := pyname.Normalize(tc.in); got != tc.norm {
				t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.norm)
			}
			if got := pyname.DistInfo(tc.in); got != tc.distInfo {
				t.Errorf("DistInfo(%q) = %q, want %q", tc.in, got, tc.distInfo)
			}
		})
	}
}
