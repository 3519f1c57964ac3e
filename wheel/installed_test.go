package wheel_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/forge-ml/forge/wheel"
)

// TestInstallDistInfo: the wheel's own files are placed, its installer
// files are not; INSTALLER, REQUESTED and RECORD are written as asked.
func TestInstallDistInfo(t *testing.T) {
	src := t.TempDir()
	for name, data := range map[string]string{
		"METADATA": "Name: x\n", "WHEEL": "Wheel-Version: 1.0\n", "licenses/LICENSE": "MIT\n",
		"RECORD": "wheel's\n", "RECORD.jws": "sig", "RECORD.p7s": "sig", "INSTALLER": "pip\n", "REQUESTED": "",
	} {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name      string
		requested bool
		record    []byte
		want      []string
	}{
		{"requested, with RECORD", true, []byte("x,,\n"), []string{"INSTALLER", "METADATA", "RECORD", "REQUESTED", "WHEEL", "licenses"}},
		{"dependency, RECORD later", false, nil, []string{"INSTALLER", "METADATA", "WHEEL", "licenses"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			var placed []string
			place := func(s, d string, e fs.DirEntry) error {
				placed = append(placed, e.Name())
				return os.Symlink(s, d)
			}
			err := wheel.InstallDistInfo(src, dst, wheel.DistInfoOptions{Place: place, Requested: tc.requested, Record: tc.record, Perm: 0o644})
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"METADATA", "WHEEL", "licenses"}; !reflect.DeepEqual(placed, want) {
				t.Errorf("placed %q, want %q", placed, want)
			}
			items, _ := os.ReadDir(dst)
			var got []string
			for _, it := range items {
				got = append(got, it.Name())
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("dst holds %q, want %q", got, tc.want)
			}
			if b, _ := os.ReadFile(filepath.Join(dst, "INSTALLER")); string(b) != "forge\n" {
				t.Errorf("INSTALLER = %q", b)
			}
			if tc.record != nil {
				if b, _ := os.ReadFile(filepath.Join(dst, "RECORD")); string(b) != string(tc.record) {
					t.Errorf("RECORD = %q, want %q", b, tc.record)
				}
			}
		})
	}
}
