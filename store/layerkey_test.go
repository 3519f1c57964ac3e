package store_test

import (
	"testing"

	"github.com/forge-ml/forge/store"
)

func TestLayerKey(t *testing.T) {
	for _, tc := range []struct {
		key    store.LayerKey
		text   string
		global bool
		xy     string
	}{
		{store.GlobalLayer("3.12"), "GLOBAL/3.12", true, "3.12"},
		{store.EnvLayer("app"), "app", false, ""},
		{store.LayerKey("GLOBAL"), "GLOBAL", false, ""}, // an environment may be called GLOBAL
	} {
		t.Run(tc.text, func(t *testing.T) {
			xy, ok := tc.key.XY()
			if tc.key.String() != tc.text || tc.key.IsGlobal() != tc.global || ok != tc.global || xy != tc.xy {
				t.Errorf("%q: IsGlobal %v, XY %q %v; want %q, %v, %q", tc.key, tc.key.IsGlobal(), xy, ok, tc.text, tc.global, tc.xy)
			}
		})
	}
}
