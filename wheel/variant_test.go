package wheel_test

import (
	"reflect"
	"testing"

	"github.com/forge-ml/forge/wheel"
)

func TestVariantProperties(t *testing.T) {
	const doc = `{"variants": {"cu128": {"nvidia": {"cuda_version_lower_bound": ["12.8"], "sm_arch": ["90", "100"]}}}}`
	for _, tc := range []struct {
		name, raw, label string
		want             map[string]map[string][]string
		ok, err          bool
	}{
		{"the label's", doc, "cu128", map[string]map[string][]string{"nvidia": {"cuda_version_lower_bound": {"12.8"}, "sm_arch": {"90", "100"}}}, true, false},
		{"another label", doc, "cu126", nil, false, false},
		{"no variants", `{}`, "cu128", nil, false, false},
		{"not JSON", `{"variants":`, "cu128", nil, false, true},
		{"wrong shape", `{"variants": {"cu128": ["x"]}}`, "cu128", nil, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := wheel.VariantProperties([]byte(tc.raw), tc.label)
			if (err != nil) != tc.err || ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("= %v, %v, %v; want %v, %v, error %v", got, ok, err, tc.want, tc.ok, tc.err)
			}
		})
	}
}
