package abi_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
)

func TestHostJSONKeepsUnknownFields(t *testing.T) {
	in := `{"schema":"forge.host/v1","name":"n","os":"linux","arch":"x86_64","future":{"a":[1,2]},"zeta":"z",
	"libc":{"family":"glibc","version":"2.31"},"visible_devices":""}`
	h, err := abi.ParseHost([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if string(h.Extra["future"]) != `{"a":[1,2]}` || string(h.Extra["zeta"]) != `"z"` || len(h.Extra) != 2 {
		t.Errorf("extra = %v", h.Extra)
	}
	if h.VisibleDevices == nil || *h.VisibleDevices != "" {
		t.Errorf("visible_devices %v, want empty string kept apart from absent", h.VisibleDevices)
	}
	out, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]json.RawMessage
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if string(back["future"]) != `{"a":[1,2]}` || string(back["schema"]) != `"forge.host/v1"` || string(back["visible_devices"]) != `""` {
		t.Errorf("round trip lost fields: %s", out)
	}
	// A known field in Extra never shadows the real one.
	h.Extra["arch"] = json.RawMessage(`"sparc"`)
	out, _ = json.Marshal(h)
	if strings.Contains(string(out), "sparc") {
		t.Errorf("extra shadowed a known field: %s", out)
	}
}

func TestParseHostErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, field string }{
		{"no schema", `{"os":"linux"}`, `"schema" missing`},
		{"wrong schema", `{"schema":"forge.host/v2"}`, `"schema" is "forge.host/v2"`},
		{"not json", `{`, "invalid host profile"},
		{"libc family", `{"schema":"forge.host/v1","libc":{"family":"bionic"}}`, `"libc.family"`},
		{"compute capability", `{"schema":"forge.host/v1","cuda":{"driver_version":"535.1","cuda_version":"12.2","devices":[{"index":0,"compute_capability":"80"}]}}`, `"cuda.devices[0].compute_capability"`},
		{"type", `{"schema":"forge.host/v1","cpu":{"x86_64_level":"three"}}`, `"cpu.x86_64_level"`},
		{"level range", `{"schema":"forge.host/v1","cpu":{"x86_64_level":7}}`, `"cpu.x86_64_level"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := abi.ParseHost([]byte(tc.in))
			if !errors.Is(err, abi.ErrHostProfile) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("err = %v, want ErrHostProfile naming %s", err, tc.field)
			}
		})
	}
}

func TestProfilesLoad(t *testing.T) {
	ps := fixtures.Profiles()
	if len(ps) < 9 {
		t.Fatalf("%d profiles", len(ps))
	}
	minors := map[string]bool{}
	for name, h := range ps {
		t.Run(name, func(t *testing.T) {
			if h.Name != name || h.Python == nil || len(h.Python.Tags) == 0 {
				t.Fatalf("profile %q: name %q, python %+v", name, h.Name, h.Python)
			}
			mm := strings.Split(h.Python.Version, ".")
			if len(mm) < 2 || h.Python.ABI != "cp"+mm[0]+mm[1] || !strings.HasPrefix(h.Python.Tags[0], h.Python.ABI+"-"+h.Python.ABI+"-") {
				t.Errorf("profile %q: python %s, ABI %s, best tag %s", name, h.Python.Version, h.Python.ABI, h.Python.Tags[0])
			}
			minors[h.Python.ABI] = true
			if !strings.HasSuffix(h.Python.Tags[len(h.Python.Tags)-1], "-none-any") {
				t.Errorf("last tag %q", h.Python.Tags[len(h.Python.Tags)-1])
			}
		})
	}
	// A matrix over the fleet answers for every Python forge supports.
	for _, abi := range []string{"cp310", "cp311", "cp312", "cp313"} {
		if !minors[abi] {
			t.Errorf("no profile for %s", abi)
		}
	}
}

func FuzzParseHost(f *testing.F) {
	for _, n := range []string{"a100-driver535", "musl-1.2"} {
		data, err := fixtures.ProfileJSON(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"schema":"forge.host/v1","x":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := abi.ParseHost(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(h)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		h2, err := abi.ParseHost(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if len(h2.Extra) != len(h.Extra) {
			t.Fatalf("extra fields %d → %d", len(h.Extra), len(h2.Extra))
		}
	})
}
