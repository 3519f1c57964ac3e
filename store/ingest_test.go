package store_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func writeWheel(t *testing.T, w fixtures.Wheel) string {
	t.Helper()
	p, err := w.WriteTo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// assertEmpty checks that a refused ingest left nothing behind.
func assertEmpty(t *testing.T, s *store.Store) {
	t.Helper()
	for _, d := range []string{s.EntriesDir(), s.StagingDir()} {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 0 {
			t.Errorf("%s not empty: %v", d, ents)
		}
	}
	all, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 0 {
		t.Errorf("store has %d rows, want none", len(all))
	}
}

// TestIngestAllRecordsIdentities: every wheel file one call hashes is
// recognised by the next without hashing it again, a path named twice
// included, and so is one whose ingest then failed.
func TestIngestAllRecordsIdentities(t *testing.T) { readPaths(t, testIngestAllRecordsIdentities) }

func testIngestAllRecordsIdentities(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	a := writeWheel(t, fixtures.PurePackage("alpha", "1.0"))
	b := writeWheel(t, fixtures.PurePackage("beta", "2.0"))
	res, err := s.IngestAll(ctx, []string{a, b, a})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.HashedWheel {
			t.Errorf("first call, wheel %d: not hashed", i)
		}
	}
	if res[0].Entry.SHA256 != res[2].Entry.SHA256 || res[0].Entry.SHA256 == res[1].Entry.SHA256 {
		t.Errorf("digests %s %s %s", res[0].Entry.SHA256, res[1].Entry.SHA256, res[2].Entry.SHA256)
	}
	res, err = s.IngestAll(ctx, []string{b, a})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.HashedWheel || !r.Reused {
			t.Errorf("second call, wheel %d: hashed=%v reused=%v, want false/true", i, r.HashedWheel, r.Reused)
		}
	}
	bad := filepath.Join(t.TempDir(), "broken-1.0-py3-none-any.whl")
	if err := os.WriteFile(bad, []byte("not a zip archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IngestAll(ctx, []string{a, bad}); err == nil {
		t.Fatal("a file that is not a zip archive was ingested")
	}
	var n int
	if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM wheel_files WHERE path = ? AND sha256 = ?`, bad,
		fmt.Sprintf("%x", sha256.Sum256([]byte("not a zip archive")))).Scan(&n); err != nil || n != 1 {
		t.Errorf("identity of the failed wheel: %d rows (%v), want 1", n, err)
	}
}

func TestIngestPureWheel(t *testing.T) { readPaths(t, testIngestPureWheel) }

func testIngestPureWheel(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	w := fixtures.PurePackage("demo-pkg", "1.2.0", fixtures.WithRequires("other>=1"))
	p := writeWheel(t, w)
	res, err := s.Ingest(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	e := res.Entry
	if res.Reused || !res.HashedWheel {
		t.Errorf("first ingest: reused=%v hashed=%v, want false/true", res.Reused, res.HashedWheel)
	}
	if e.Name != "demo-pkg" || e.NormName != "demo-pkg" || e.Version != "1.2.0" || len(e.SHA256) != 64 {
		t.Errorf("entry = %+v", e)
	}
	if want := len(w.Members()); e.Files != want {
		t.Errorf("files = %d, want %d", e.Files, want)
	}
	if len(e.Tags) != 1 || e.Tags[0] != "py3-none-any" {
		t.Errorf("tags = %v", e.Tags)
	}
	// Every member is there, read-only, with its content.
	for _, m := range w.Members() {
		fp := filepath.Join(s.EntryDir(e.SHA256), filepath.FromSlash(m.Name))
		b, err := os.ReadFile(fp)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(m.Data) {
			t.Errorf("%s: content differs", m.Name)
		}
		fi, _ := os.Stat(fp)
		if fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("%s is writable: %v", m.Name, fi.Mode())
		}
	}
	if fi, _ := os.Stat(s.EntryDir(e.SHA256)); fi.Mode().Perm()&0o222 != 0 {
		t.Errorf("entry dir writable: %v", fi.Mode())
	}
	// The same file again: exact reuse, recognised without re-hashing.
	res2, err := s.Ingest(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !res2.Reused || res2.HashedWheel || res2.Entry.SHA256 != e.SHA256 {
		t.Errorf("second ingest: reused=%v hashed=%v sha=%s", res2.Reused, res2.HashedWheel, res2.Entry.SHA256)
	}
	// A copy elsewhere (new identity) is hashed, then reused.
	cp := filepath.Join(t.TempDir(), filepath.Base(p))
	b, _ := os.ReadFile(p)
	os.WriteFile(cp, b, 0o644)
	res3, err := s.Ingest(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	if !res3.Reused || !res3.HashedWheel {
		t.Errorf("copy: reused=%v hashed=%v, want true/true", res3.Reused, res3.HashedWheel)
	}
	all, _ := s.List(ctx)
	if len(all) != 1 {
		t.Errorf("%d entries, want 1", len(all))
	}
}

func TestIngestModifiedFileIsRehashed(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	p, err := fixtures.PurePackage("mutable", "1.0").WriteTo(dir)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := s.Ingest(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	// Same path, other content: the identity (size/mtime/ctime) changes.
	w := fixtures.PurePackage("mutable", "1.0", fixtures.WithFiles(fixtures.File{Name: "mutable/extra.py", Data: []byte("X = 1\n")}))
	b, _ := w.Bytes()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r2, err := s.Ingest(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !r2.HashedWheel || r2.Reused || r2.Entry.SHA256 == r1.Entry.SHA256 {
		t.Errorf("rewritten file: hashed=%v reused=%v same-sha=%v", r2.HashedWheel, r2.Reused, r2.Entry.SHA256 == r1.Entry.SHA256)
	}
}

// readPaths runs f with wheels read into memory before they are unpacked,
// then with them read member by member (as a wheel too large for memory).
func readPaths(t *testing.T, f func(t *testing.T)) {
	for _, p := range []struct {
		name string
		max  int64
	}{{"in-memory", 1 << 40}, {"from-file", -1}} {
		t.Run(p.name, func(t *testing.T) {
			defer store.SetWholeWheelMax(store.SetWholeWheelMax(p.max))
			f(t)
		})
	}
}

// TestIngestDescriptorCRC: a member whose data descriptor disagrees with the
// central directory about its CRC-32 is refused, though its content matches
// the central directory and RECORD (archive/zip's own reader refused it).
func TestIngestDescriptorCRC(t *testing.T) { readPaths(t, testIngestDescriptorCRC) }

func testIngestDescriptorCRC(t *testing.T) {
	w := fixtures.PurePackage("described", "1.0")
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	f := zr.File[0]
	if f.Flags&0x8 == 0 {
		t.Fatalf("%s has no data descriptor", f.Name)
	}
	at, err := f.DataOffset()
	if err != nil {
		t.Fatal(err)
	}
	at += int64(f.CompressedSize64)
	if binary.LittleEndian.Uint32(b[at:]) == 0x08074b50 {
		at += 4
	}
	b[at] ^= 0xff
	p := filepath.Join(t.TempDir(), w.Filename())
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	_, err = s.Ingest(context.Background(), p)
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "data descriptor") {
		t.Errorf("ingest: %v, want a data descriptor CRC error (corrupt)", err)
	}
	assertEmpty(t, s)
}

func TestIngestHostile(t *testing.T) { readPaths(t, testIngestHostile) }

func testIngestHostile(t *testing.T) {
	for _, h := range fixtures.HostileWheels() {
		t.Run(h.Name, func(t *testing.T) {
			s := openStore(t)
			p := filepath.Join(t.TempDir(), h.Filename)
			if err := os.WriteFile(p, h.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := s.Ingest(context.Background(), p)
			if err == nil {
				t.Fatalf("%s (%s) was accepted", h.Name, h.Doc)
			}
			msg := err.Error()
			if !strings.Contains(msg, h.Filename) {
				t.Errorf("error does not name the wheel: %v", err)
			}
			if !strings.Contains(strings.ToLower(msg), strings.ToLower(h.Want)) {
				t.Errorf("error does not say %q: %v", h.Want, err)
			}
			want := store.ErrInvalid
			if h.Kind == fixtures.KindIntegrity {
				want = store.ErrCorrupt
			}
			if !errors.Is(err, want) {
				t.Errorf("error kind: got %v, want %v", err, want)
			}
			assertEmpty(t, s)
		})
	}
}

// TestIngestConcurrent ingests one wheel from many goroutines, each with its
// own Store (its own database connection, as separate processes have).
func TestIngestConcurrent(t *testing.T) { readPaths(t, testIngestConcurrent) }

func testIngestConcurrent(t *testing.T) {
	home := t.TempDir()
	p := writeWheel(t, fixtures.PurePackage("racy", "1.0"))
	const n = 8
	var wg sync.WaitGroup
	shas := make([]string, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.Open(home)
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			res, err := s.Ingest(context.Background(), p)
			if err != nil {
				errs[i] = err
				return
			}
			shas[i] = res.Entry.SHA256
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ingest %d: %v", i, err)
		}
		if shas[i] != shas[0] {
			t.Errorf("ingest %d gave %s, want %s", i, shas[i], shas[0])
		}
	}
	s, _ := store.Open(home)
	defer s.Close()
	all, _ := s.List(context.Background())
	ents, _ := os.ReadDir(s.EntriesDir())
	stg, _ := os.ReadDir(s.StagingDir())
	if len(all) != 1 || len(ents) != 1 || len(stg) != 0 {
		t.Errorf("rows=%d dirs=%d staging=%d, want 1/1/0", len(all), len(ents), len(stg))
	}
}

// TestIngestWaitsForLockHolder: a digest whose ingest lock another process
// holds is not unpacked meanwhile; once the lock is free it is unpacked (the
// holder left it undone) and the other wheels of the call are not held up
// in the store.
func TestIngestWaitsForLockHolder(t *testing.T) { readPaths(t, testIngestWaitsForLockHolder) }

func testIngestWaitsForLockHolder(t *testing.T) {
	home := t.TempDir()
	s, err := store.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	held := writeWheel(t, fixtures.PurePackage("held", "1.0"))
	free := writeWheel(t, fixtures.PurePackage("free", "1.0"))
	b, err := os.ReadFile(held)
	if err != nil {
		t.Fatal(err)
	}
	sha := fmt.Sprintf("%x", sha256.Sum256(b))
	other, err := store.Open(home) // the other process
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lk, err := other.LockFile(ctx, "ingest-"+sha[:16], true, nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		res []*store.IngestResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := s.IngestAll(ctx, []string{held, free})
		done <- result{res, err}
	}()
	// The wheel nobody holds is unpacked and recorded while the other waits.
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, _ := other.List(ctx)
		if len(all) == 1 && all[0].Name == "free" {
			break
		}
		if len(all) > 1 || time.Now().After(deadline) {
			t.Fatalf("entries while the lock is held: %d", len(all))
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("IngestAll returned while another process held the lock: %v", r.err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := os.Lstat(s.EntryDir(sha)); err == nil {
		t.Fatal("the held digest was unpacked under another process's lock")
	}
	lk.Unlock()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.res[0].Entry.SHA256 != sha || r.res[0].Reused || r.res[1].Entry.Name != "free" {
		t.Errorf("results: %+v %+v", r.res[0], r.res[1])
	}
	if _, err := os.Lstat(s.EntryDir(sha)); err != nil {
		t.Errorf("held digest not unpacked once free: %v", err)
	}
}

// TestIngestCopyOfLargeWheel: a copy of a stored wheel too large to hold in
// memory, unknown by its identity, is hashed alongside its unpacking and
// reused; two copies of a new one in one call give one entry.
func TestIngestCopyOfLargeWheel(t *testing.T) {
	defer store.SetWholeWheelMax(store.SetWholeWheelMax(-1))
	s := openStore(t)
	ctx := context.Background()
	p := writeWheel(t, fixtures.PurePackage("bulky", "1.0"))
	b, _ := os.ReadFile(p)
	cp := func() string {
		c := filepath.Join(t.TempDir(), filepath.Base(p))
		if err := os.WriteFile(c, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return c
	}
	res, err := s.IngestAll(ctx, []string{p, cp()})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Entry.SHA256 != res[1].Entry.SHA256 || !res[0].HashedWheel || !res[1].HashedWheel {
		t.Errorf("two copies: %+v %+v", res[0], res[1])
	}
	r, err := s.Ingest(ctx, cp())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Reused || !r.HashedWheel || r.Entry.SHA256 != res[0].Entry.SHA256 {
		t.Errorf("a third copy: reused=%v hashed=%v", r.Reused, r.HashedWheel)
	}
	all, _ := s.List(ctx)
	stg, _ := os.ReadDir(s.StagingDir())
	if len(all) != 1 || len(stg) != 0 {
		t.Errorf("rows=%d staging=%d, want 1/0", len(all), len(stg))
	}
}

// TestIngestAfterCrash: a directory renamed into place whose row was never
// committed (a crash in between) is redone, not trusted blindly or left.
func TestIngestAfterCrash(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	p := writeWheel(t, fixtures.PurePackage("crashy", "1.0"))
	res, err := s.Ingest(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	sha := res.Entry.SHA256
	if _, err := s.DB().Exec(`DELETE FROM entries`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(`DELETE FROM wheel_files`); err != nil {
		t.Fatal(err)
	}
	res2, err := s.Ingest(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Reused || res2.Entry.SHA256 != sha {
		t.Errorf("re-ingest: reused=%v sha=%s", res2.Reused, res2.Entry.SHA256)
	}
	if _, err := os.Stat(filepath.Join(s.EntryDir(sha), "crashy", "__init__.py")); err != nil {
		t.Error(err)
	}
}

// TestIngestLargeMembers: members written with O_DIRECT (see directWriter)
// land byte for byte, and a large ELF is still fingerprinted from the staged
// copy (its machine and its .nv_fatbin entries).
func TestIngestLargeMembers(t *testing.T) { readPaths(t, testIngestLargeMembers) }

func testIngestLargeMembers(t *testing.T) {
	if !fixtures.HaveGCC() {
		t.Skip("gcc not available")
	}
	dir := t.TempDir()
	payload := semiCompressible(3<<20, 9)
	fat := fixtures.Fatbin(
		fixtures.FatbinSpec{Kind: "cubin", SM: 80, Payload: payload},
		fixtures.FatbinSpec{Kind: "ptx", SM: 90, PTXVersion: "8.4", Payload: payload},
	)
	so, err := fixtures.FatbinSO(dir, "libbig.so", fat, fixtures.SharedObject{})
	if err != nil {
		t.Fatal(err)
	}
	soData, err := os.ReadFile(so)
	if err != nil {
		t.Fatal(err)
	}
	w := fixtures.Wheel{Name: "bigpkg", Version: "1.0", Tag: "py3-none-manylinux_2_17_x86_64", Files: []fixtures.File{
		{Name: "bigpkg/__init__.py", Data: []byte("X = 1\n")},
		{Name: "bigpkg/lib/libbig.so", Data: soData, Mode: 0o755},
		{Name: "bigpkg/blob.bin", Data: semiCompressible(5<<20+777, 3)}, // not a multiple of the block size
		{Name: "bigpkg/even.bin", Data: semiCompressible(8<<20, 4)},     // a multiple
	}}
	s := openStore(t)
	res, err := s.Ingest(context.Background(), writeWheel(t, w))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range w.Members() {
		got, err := os.ReadFile(filepath.Join(s.EntryDir(res.Entry.SHA256), filepath.FromSlash(m.Name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, m.Data) {
			t.Errorf("%s: %d bytes in the store, %d in the wheel, or other content", m.Name, len(got), len(m.Data))
		}
	}
	var found bool
	for _, el := range res.Entry.Fingerprint.ELFs {
		if el.Path == "bigpkg/lib/libbig.so" {
			found = true
			if len(el.GPUCode) != 2 || el.Machine != "x86_64" {
				t.Errorf("libbig.so fingerprint: gpu code %+v, machine %q", el.GPUCode, el.Machine)
			}
		}
	}
	if !found {
		t.Errorf("libbig.so not fingerprinted: %+v", res.Entry.Fingerprint.ELFs)
	}
}
