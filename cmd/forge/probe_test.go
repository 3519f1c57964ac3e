package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
)

func TestProbeCommand(t *testing.T) {
	home := t.TempDir()
	profile := filepath.Join(t.TempDir(), "v100.json")
	os.WriteFile(profile, []byte(`{"schema":"forge.host/v1","os":"linux","arch":"x86_64",
		"libc":{"family":"glibc","version":"2.28"},
		"python":{"implementation":"cp","version":"3.10.13","abi":"cp310"},
		"cuda":{"driver_version":"470.82.01","cuda_version":"11.4","devices":[{"index":0,"name":"Tesla V100","compute_capability":"7.0"}]}}`), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		out  func(t *testing.T, stdout string)
	}{
		{
			name: "json profile from a file",
			args: []string{"probe", "--json", "--host-profile", profile},
			out: func(t *testing.T, s string) {
				var h abi.Host
				if err := json.Unmarshal([]byte(s), &h); err != nil {
					t.Fatal(err)
				}
				if h.Name != "v100" || h.Python.Tags[0] != "cp310-cp310-manylinux_2_28_x86_64" || h.CUDA.Devices[0].ComputeCapability != "7.0" {
					t.Errorf("got %s", s)
				}
			},
		},
		{
			name: "text summary from a file",
			args: []string{"probe", "--host-profile", profile},
			out: func(t *testing.T, s string) {
				for _, want := range []string{"glibc 2.28", "cp 3.10.13 cp310", "driver 470.82.01, CUDA 11.4, 1 visible GPU(s)", "gpu 0: Tesla V100, sm 7.0"} {
					if !strings.Contains(s, want) {
						t.Errorf("missing %q in\n%s", want, s)
					}
				}
			},
		},
		{
			name: "live probe as json",
			args: []string{"probe", "--json"},
			out: func(t *testing.T, s string) {
				var h abi.Host
				if err := json.Unmarshal([]byte(s), &h); err != nil {
					t.Fatal(err)
				}
				if h.Schema != abi.HostSchema || h.CPU == nil {
					t.Errorf("got %s", s)
				}
			},
		},
		{name: "bad profile", args: []string{"probe", "--host-profile", os.DevNull}, code: exitError},
		{name: "stray argument", args: []string{"probe", "extra"}, code: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(append([]string{"--home", home}, tt.args...), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			if tt.out != nil {
				tt.out(t, stdout.String())
			}
		})
	}
}
