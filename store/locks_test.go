package store

import (
	"context"
	"testing"
)

// TestLockNames: each typed lock is the file its name has always had, so
// that a forge built before them and one built after exclude each other.
func TestLockNames(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	sha := "8899aabbccddeeff00112233445566778899aabbccddeeff0011223344556677"
	for _, tc := range []struct {
		name string
		take func() (*Lock, error)
		file string
	}{
		{"gc exclusive", func() (*Lock, error) { return s.LockGC(ctx, true, nil) }, "gc"},
		{"env", func() (*Lock, error) { return s.LockEnv(ctx, "app", nil) }, "env-app"},
		{"try env", func() (*Lock, error) { return s.TryLockEnv("app") }, "env-app"},
		{"environment layer", func() (*Lock, error) { return s.LockLayer(ctx, "app", nil) }, "layer-app"},
		{"global layer", func() (*Lock, error) { return s.LockLayer(ctx, "GLOBAL/3.12", nil) }, "layer-GLOBAL_3.12"},
		{"ingest", func() (*Lock, error) { return s.lockIngest(ctx, sha) }, "ingest-8899aabbccddeeff"},
		{"try ingest by prefix", func() (*Lock, error) { return s.tryLockIngest(sha[:16]) }, "ingest-8899aabbccddeeff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lk, err := tc.take()
			if err != nil || lk == nil {
				t.Fatalf("take: %v, %v", lk, err)
			}
			other, err := s.TryLockFile(tc.file)
			if err != nil || other != nil {
				other.Unlock()
				t.Errorf("lock %s is free while %s is held (%v)", tc.file, tc.name, err)
			}
			lk.Unlock()
			again, err := s.TryLockFile(tc.file)
			if err != nil || again == nil {
				t.Errorf("lock %s is still held after Unlock (%v)", tc.file, err)
			}
			again.Unlock()
		})
	}
}
