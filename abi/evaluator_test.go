package abi_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
)

// evalHosts are the hosts the Evaluator is compared with Evaluate on.
var evalHosts = sync.OnceValue(func() []*abi.Host {
	return []*abi.Host{fixtures.Profile("a100-driver535"), fixtures.Profile("v100-driver470"),
		fixtures.Profile("nogpu-glibc217"), fixtures.Profile("musl-1.2")}
})

// sameAsEvaluate fails unless ev gives, for raw, what json.Unmarshal and
// Evaluate give, under every policy, host and a few provided libraries.
func sameAsEvaluate(t *testing.T, ev *abi.Evaluator, raw string) {
	t.Helper()
	var want abi.Fingerprint
	werr := json.Unmarshal([]byte(raw), &want)
	fp, key, err := ev.Decode(raw)
	if (err == nil) != (werr == nil) {
		t.Fatalf("Decode(%q): error %v, json.Unmarshal %v", raw, err, werr)
	}
	if err != nil {
		return
	}
	for _, h := range evalHosts() {
		for _, p := range abi.Policies {
			for _, libs := range [][]string{nil, {"libfoo.so.1"}, {"libcudart.so.12", "libbar.so"}} {
				opts := abi.CheckOptions{ProvidedLibs: libs}
				w := abi.Evaluate(&want, h, p, opts)
				g := ev.Evaluate(key, fp, h, p, opts)
				if !reflect.DeepEqual(w, g) {
					t.Fatalf("%q on %s under %s with %v:\n got  %+v\n want %+v", raw, h.Name, p, libs, g, w)
				}
			}
		}
	}
}

func TestEvaluatorSharesOnlyWhatCheckIgnores(t *testing.T) {
	tests := []struct {
		name  string
		a, b  string
		share bool
	}{
		{"names and file counts", `{"name":"a","version":"1.0","tags":["py3-none-any"],"files":4}`,
			`{"name":"b","version":"2.0","tags":["py3-none-any"],"files":7,"wheel_tags":["py3-none-any"]}`, true},
		{"layout", `{"name":"a","tags":["py3-none-any"]}`, "{ \"tags\" : [\"py3-none-any\"] ,\n\"name\":\"b\\u0041\"}", true},
		{"tags", `{"name":"a","tags":["py3-none-any"]}`, `{"name":"a","tags":["cp39-cp39-manylinux_2_17_x86_64"]}`, false},
		{"version under a CUDA flavour", `{"version":"1.0+cu121","cuda_flavour":"12.1","tags":["py3-none-any"]}`,
			`{"version":"2.0+cu121","cuda_flavour":"12.1","tags":["py3-none-any"]}`, false},
		{"needed libraries", `{"tags":["py3-none-any"],"needed":["libfoo.so.1"]}`, `{"tags":["py3-none-any"],"needed":["libbar.so.1"]}`, false},
		{"another spelling", `{"name":"a","tags":["py3-none-any"]}`, `{"Name":"a","tags":["py3-none-any"]}`, false},
		{"a duplicate member", `{"tags":["py3-none-any"]}`, `{"tags":["cp39-cp39-linux_x86_64"],"tags":["py3-none-any"]}`, false},
		{"a left-out member that fails to decode", `{"tags":["py3-none-any"],"files":1}`, `{"tags":["py3-none-any"],"files":1.5}`, false},
		{"invalid JSON in a left-out member", `{"tags":[],"name":"a"}`, `{"tags":[],"name":"a\x01"}`, false},
		{"trailing text", `{"tags":[]}`, `{"tags":[]} x`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := abi.NewEvaluator()
			fa, ka, _ := ev.Decode(tc.a)
			fb, kb, _ := ev.Decode(tc.b)
			if (ka == kb) != tc.share || (fa == fb) != tc.share {
				t.Errorf("shared %v (keys %q, %q), want %v", ka == kb, ka, kb, tc.share)
			}
			// Whatever is shared, each gives what Evaluate gives it.
			sameAsEvaluate(t, ev, tc.a)
			sameAsEvaluate(t, ev, tc.b)
		})
	}
}

func TestEvaluatorDecodeErrors(t *testing.T) {
	for _, raw := range []string{``, `null`, `[]`, `{"tags":1}`, `{"tags":["x"]`, `{"files":"4","tags":[]}`,
		`{"wheel_tags":[1],"tags":[]}`, `{"name":"\q"}`, `{"elfs":[{"path":3}]}`} {
		t.Run(raw, func(t *testing.T) {
			ev := abi.NewEvaluator()
			sameAsEvaluate(t, ev, `{"name":"ok","tags":[]}`)
			sameAsEvaluate(t, ev, raw)
		})
	}
}

// TestEvaluatorRealFingerprints compares on the fingerprints of gcc-built
// wheels: ELF members, GPU code, needed libraries, CUDA.
func TestEvaluatorRealFingerprints(t *testing.T) {
	files := builtELFs(t)
	ev := abi.NewEvaluator()
	for name, path := range files {
		t.Run(name, func(t *testing.T) {
			fp := fingerprint(t, "pkg-1.0+cu121-cp311-cp311-manylinux_2_17_x86_64.whl", "Requires-Dist: nvidia-cublas-cu12\n",
				fileMember(t, "pkg/"+filepath.Base(path), path))
			b, err := json.Marshal(fp)
			if err != nil {
				t.Fatal(err)
			}
			sameAsEvaluate(t, ev, string(b))
			// The same content under another wheel name shares the decode.
			fp.Name, fp.Files = "other", fp.Files+1
			b2, _ := json.Marshal(fp)
			_, k1, _ := ev.Decode(string(b))
			_, k2, _ := ev.Decode(string(b2))
			if k1 != k2 {
				t.Errorf("renamed fingerprint has another key")
			}
			sameAsEvaluate(t, ev, string(b2))
		})
	}
}

// FuzzEvaluatorDecode: two fingerprints that share a key get the verdicts
// Evaluate gives each of them, and Decode fails exactly when json.Unmarshal does.
func FuzzEvaluatorDecode(f *testing.F) {
	f.Add(`{"name":"a","version":"1.0","tags":["py3-none-any"],"files":4}`, `{"name":"b","version":"2","tags":["py3-none-any"],"files":5}`)
	f.Add(`{"version":"1.0+cu121","cuda_flavour":"12.1","tags":["py3-none-any"],"nvidia_requires":["nvidia-cublas-cu12"]}`, `{"cuda_flavour":"12.1","version":"2"}`)
	f.Add(`{"tags":["cp311-cp311-manylinux_2_34_x86_64"],"glibc_floor":"2.34","elfs":[{"path":"a.so","glibc_floor":"2.34","needed":["libfoo.so.1"]}],"needed":["libfoo.so.1"]}`, `{"wheel_tags":null,"files":-0}`)
	f.Add(`{"gpu_code":[{"kind":"cubin","sm":"80"}],"tags":[]}`, `{"name":null,"build":"1","wheel_tags":["a","b"]}`)
	f.Fuzz(func(t *testing.T, a, b string) {
		ev := abi.NewEvaluator()
		sameAsEvaluate(t, ev, a)
		sameAsEvaluate(t, ev, b)
	})
}
