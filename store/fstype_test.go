package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/store"
)

// TestNetworkFSHome: a home on a network file system (an injected statfs
// type: NFS cannot be mounted here) is refused with a message that says
// what works, unless FORGE_ALLOW_NETWORK_FS=1, which opens forge.db with
// the rollback journal instead of the write-ahead log. A local type, or
// one that cannot be read, keeps WAL.
func TestNetworkFSHome(t *testing.T) {
	const (
		ext4   = 0xef53
		nfs    = 0x6969
		lustre = 0x0bd00bd0
	)
	tests := []struct {
		name     string
		fsType   int64
		fsErr    error
		allow    string
		wantErr  string // in the error; "" = opens
		wantMode string // journal_mode when it opens
	}{
		{"local disk", ext4, nil, "", "", "wal"},
		{"type unreadable", 0, errors.New("statfs: permission denied"), "", "", "wal"},
		{"NFS refused", nfs, nil, "", "is on NFS", ""},
		{"Lustre refused", lustre, nil, "0", "is on Lustre", ""},
		{"NFS allowed", nfs, nil, "1", "", "delete"},
		{"Lustre allowed", lustre, nil, "true", "", "delete"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			var asked string
			s, err := store.Open(home,
				store.WithFSType(func(p string) (int64, error) { asked = p; return tc.fsType, tc.fsErr }),
				store.WithGetenv(func(k string) string {
					if k == store.AllowNetworkFSEnv {
						return tc.allow
					}
					return ""
				}))
			if asked != home {
				t.Errorf("file-system type asked of %q, want the home %q", asked, home)
			}
			if tc.wantErr != "" {
				if err == nil {
					s.Close()
					t.Fatal("opened; want ErrNetworkFS")
				}
				if !errors.Is(err, store.ErrNetworkFS) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "FORGE_ALLOW_NETWORK_FS=1") || !strings.Contains(err.Error(), home) {
					t.Errorf("error %q: want ErrNetworkFS naming the home, %q and the override", err, tc.wantErr)
				}
				if _, err := os.Stat(filepath.Join(home, "forge.db")); err == nil {
					t.Error("forge.db was created on the refused file system")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			addEnvs(t, s, 3, 10)
			var mode string
			if err := s.DB().QueryRowContext(context.Background(), "PRAGMA journal_mode").Scan(&mode); err != nil {
				t.Fatal(err)
			}
			if mode != tc.wantMode {
				t.Errorf("journal_mode %s, want %s", mode, tc.wantMode)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.wantMode == "delete" && walSize(t, home) >= 0 {
				t.Error("a -wal file exists on the network file system")
			}
		})
	}
}

// TestNetworkFSSwitchesExistingHome: a home made on a local disk (WAL) and
// then opened from a network file system with the override is switched to
// the rollback journal, and keeps its rows.
func TestNetworkFSSwitchesExistingHome(t *testing.T) {
	home := t.TempDir()
	s, err := store.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	addEnvs(t, s, 2, 10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(home, store.WithFSType(func(string) (int64, error) { return 0x6969, nil }),
		store.WithGetenv(func(string) string { return "1" }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mode string
	if err := s.DB().QueryRowContext(context.Background(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "delete" {
		t.Errorf("journal_mode %q %v, want delete", mode, err)
	}
	envs, err := s.ListEnvs(context.Background())
	if err != nil || len(envs) != 2 {
		t.Errorf("environments after the switch: %d %v, want 2", len(envs), err)
	}
}
