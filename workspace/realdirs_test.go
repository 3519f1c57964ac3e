package workspace

import (
	"reflect"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
)

func TestRealDirs(t *testing.T) {
	tests := []struct {
		name string
		elfs []abi.ELF
		want map[string]bool
	}{
		{"no runpath", []abi.ELF{{Path: "torch/lib/libtorch.so"}}, nil},
		{"inside own package", []abi.ELF{{Path: "torch/_C.so", Runpath: []string{"$ORIGIN/lib"}}}, nil},
		{"up but inside", []abi.ELF{{Path: "torch/lib/x.so", Runpath: []string{"$ORIGIN/../bin"}}}, nil},
		{"namespace sibling (cuSPARSE)", []abi.ELF{{Path: "nvidia/cusparse/lib/libcusparse.so.12", Runpath: []string{"$ORIGIN/../../nvjitlink/lib"}}},
			map[string]bool{"nvidia": true, "nvidia/cusparse": true, "nvidia/cusparse/lib": true}},
		{"namespace, own directory", []abi.ELF{{Path: "nvidia/cublas/lib/libcublas.so.12", Runpath: []string{"$ORIGIN/../../cublas/lib"}}}, nil},
		{"sibling package", []abi.ELF{{Path: "torch/lib/libtorch.so", Runpath: []string{"$ORIGIN/../../nvidia/cublas/lib:$ORIGIN"}}},
			map[string]bool{"torch": true, "torch/lib": true}},
		{"braced rpath", []abi.ELF{{Path: "pkga/sub/_ext.so", Rpath: []string{"${ORIGIN}/../../libb/lib"}}},
			map[string]bool{"pkga": true, "pkga/sub": true}},
		{"absolute ignored", []abi.ELF{{Path: "a/b.so", Runpath: []string{"/opt/lib"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// What the entries ship: each ELF's directories, and torch/bin.
			ships := func(dir string) bool {
				if dir == "torch/bin" {
					return true
				}
				for _, e := range tt.elfs {
					if e.Path == dir || strings.HasPrefix(e.Path, dir+"/") {
						return true
					}
				}
				return false
			}
			got := RealDirs(&abi.Fingerprint{ELFs: tt.elfs}, ships)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("RealDirs = %v, want %v", got, tt.want)
			}
		})
	}
}
