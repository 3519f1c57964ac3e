package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/internal/progress"
	"github.com/forge-ml/forge/wheel"
)

// IngestResult says what Ingest did.
type IngestResult struct {
	Entry *Entry
	// Reused is true when the entry was already complete in the store and
	// nothing was unpacked.
	Reused bool
	// HashedWheel is false when the wheel file's digest came from the
	// identity cache instead of reading the file.
	HashedWheel bool
}

// Ingest adds the wheel file at wheelPath to the store, or finds it there.
//
// Every member is inflated once, CRC-checked, hashed and compared with its
// RECORD line, and written into a staging directory; ELF members are
// fingerprinted from the staged copy. Nothing becomes visible unless every
// check passes. Errors wrap ErrCorrupt (content does not match what it
// claims: exit 4) or ErrInvalid (format or safety rule broken).
func (s *Store) Ingest(ctx context.Context, wheelPath string) (*IngestResult, error) {
	res, err := s.IngestAll(ctx, []string{wheelPath})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// IngestAll ingests several wheel files as Ingest does, with the results in
// the order of paths. Wheels are unpacked concurrently and every staged
// entry is flushed with one syncfs(2) before any is renamed into place, so a
// hundred small wheels cost one flush, not a hundred.
//
// A wheel file whose digest is not known from its identity is hashed while
// it is unpacked, not before: a small one from memory just before, a large
// one from its file alongside, so that hashing a 500 MB wheel does not
// delay its unpacking. A digest already in the store, or unpacked by an
// earlier wheel of the same call, stops the unpacking and is reused.
//
// A process unpacks a digest only under its ingest lock, which it only
// tries while unpacking: a digest another process is unpacking is left, and
// once this call has released its own locks it waits for that lock and
// reuses the entry (or unpacks it, if the other process failed). Holding
// no lock while waiting for one, two processes ingesting overlapping sets
// cannot deadlock. On error, entries already complete stay; nothing staged
// by this call becomes visible; the error is the first failing wheel's in
// path order.
func (s *Store) IngestAll(ctx context.Context, paths []string) ([]*IngestResult, error) {
	jobs := make([]*ingestJob, len(paths))
	for i, p := range paths {
		j := &ingestJob{path: p, base: filepath.Base(p)}
		// A file that is not there is named so, before its name is judged.
		// ("wheel nope.whl: no such file or directory", fs.ErrNotExist.)
		var pe *fs.PathError
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) && errors.As(err, &pe) {
			return nil, &fs.PathError{Op: "wheel", Path: p, Err: pe.Err}
		}
		wf, err := wheel.ParseFilename(j.base)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", err, ErrInvalid)
		}
		j.wf = wf
		jobs[i] = j
	}
	ids := make([]fileID, len(jobs))
	for i, j := range jobs {
		id, err := wheelFileID(j.path)
		if err != nil {
			return nil, fmt.Errorf("wheel %s: %w", j.base, err)
		}
		ids[i], j.id, j.size = id, id, id.size
	}
	// Digests from the identities recorded when the files were hashed, and
	// the rows of those already in the store: one query each.
	digests, err := s.knownDigests(ctx, ids)
	if err != nil {
		return nil, err
	}
	shas := []any{}
	for _, j := range jobs {
		if sha, ok := digests[j.id.abs]; ok {
			j.sha = sha
			shas = append(shas, sha)
		}
	}
	known, err := s.queryEntries(ctx, `SELECT `+entryCols+` FROM entries WHERE sha256 IN (SELECT value FROM json_each(?))`, jsonList(shas))
	if err != nil {
		return nil, err
	}
	rows := map[string]*Entry{}
	for _, e := range known {
		rows[e.SHA256] = e
	}
	byID := map[fileID]*ingestJob{}
	var todo []*ingestJob
	for _, j := range jobs {
		if e := rows[j.sha]; e != nil {
			if _, err := os.Lstat(s.EntryDir(j.sha)); err != nil {
				e, err = s.complete(ctx, j.sha) // a row without its directory
				if err != nil {
					return nil, err
				}
			}
			if e != nil {
				j.res.Entry, j.res.Reused = e, true
				continue
			}
		}
		if first, dup := byID[j.id]; dup {
			j.same = first // the same file twice: read it once
			continue
		}
		byID[j.id] = j
		todo = append(todo, j)
	}
	if len(todo) > 0 {
		err := s.ingestNew(ctx, todo)
		// Identities of the files hashed, recorded even when an ingest
		// failed: the next attempt need not hash them again.
		if rerr := s.recordWheelFiles(ctx, todo); err == nil {
			err = rerr
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]*IngestResult, len(jobs))
	for i, j := range jobs {
		j.res.HashedWheel = j.hashed != ""
		if f := j.same; f != nil {
			j.res.Entry, j.res.Reused = f.res.Entry, f.res.Reused
			if f.id == j.id {
				j.res.HashedWheel = f.hashed != ""
			}
		}
		r := j.res
		out[i] = &r
	}
	return out, nil
}

// ingestJob is one wheel of an IngestAll call.
type ingestJob struct {
	path, base string
	id         fileID
	size       int64 // of the wheel file
	wf         wheel.Filename
	sha        string     // known from the file's identity, or once hashed
	hashed     string     // the digest, when this call read the file for it
	same       *ingestJob // an earlier job for the same file or digest
	res        IngestResult

	// Set while staging.
	lock     *Lock
	deferred bool // another process held the digest's lock
	staging  string
	entry    *Entry
	err      error
}

// ingestNew unpacks wheels not yet in the store, then waits for those
// another process was unpacking.
func (s *Store) ingestNew(ctx context.Context, todo []*ingestJob) error {
	release := func(jobs []*ingestJob) {
		for _, j := range jobs {
			if j.staging != "" {
				removeTree(j.staging)
				j.staging = ""
			}
			j.lock.Unlock()
			j.lock = nil
		}
	}
	err := s.unpackAll(ctx, todo)
	release(todo)
	if err != nil {
		return err
	}
	var waiting []*ingestJob
	for _, j := range todo {
		if j.deferred {
			j.deferred = false
			waiting = append(waiting, j)
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	// Holding no ingest lock now, wait for each, in digest order; claim
	// finds most of them complete.
	defer release(waiting)
	sort.Slice(waiting, func(a, b int) bool { return waiting[a].sha < waiting[b].sha })
	for _, j := range waiting {
		lk, err := s.lockIngest(ctx, j.sha)
		if err != nil {
			return err
		}
		j.lock = lk
	}
	return s.unpackAll(ctx, waiting)
}

// unpackAll stages and verifies wheels concurrently, largest first, then
// flushes them with one syncfs, renames them into place and records them.
func (s *Store) unpackAll(ctx context.Context, jobs []*ingestJob) error {
	// Wheels run concurrently; each also inflates its members in parallel.
	// Two wheels at a time keep the CPUs busy while one of them is between
	// members (opening the zip, planning, fingerprinting, sealing).
	// The largest wheels start first, so that one big member is not left
	// to run alone at the end.
	bySize := append([]*ingestJob(nil), jobs...)
	sort.SliceStable(bySize, func(a, b int) bool { return bySize[a].size > bySize[b].size })
	c := &claims{s: s, bySHA: map[string]*ingestJob{}}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(2, s.Workers/2))
	for _, j := range bySize {
		g.Go(func() error {
			j.err = s.stage(gctx, j, c)
			return j.err
		})
	}
	if err := g.Wait(); err != nil {
		for _, j := range jobs {
			if j.err != nil && !errors.Is(j.err, context.Canceled) {
				return j.err
			}
		}
		return err
	}
	var staged []*ingestJob
	for _, j := range jobs {
		if j.staging != "" {
			staged = append(staged, j)
		}
	}
	if len(staged) == 0 {
		return nil
	}
	if err := syncFS(staged[0].staging); err != nil {
		return fmt.Errorf("wheel %s: fsync: %w", staged[0].base, err)
	}
	var renamed []*ingestJob
	for _, j := range staged {
		ok, err := s.renameStaged(ctx, j)
		if err != nil {
			return err
		}
		if ok {
			renamed = append(renamed, j)
		}
	}
	if err := syncDir(s.EntriesDir()); err != nil {
		return err
	}
	return s.recordEntries(ctx, renamed)
}

// claims decides, as digests become known, which job of an unpackAll call
// unpacks each.
type claims struct {
	s     *Store
	mu    sync.Mutex
	bySHA map[string]*ingestJob
}

// claim reports whether j, whose wheel has digest sha, is to unpack it. It
// is not when an earlier job of the call has the same digest (j.same),
// when another process holds the digest's ingest lock (j.deferred), or
// when the entry is complete in the store (j.res). Otherwise j holds the
// lock until its entry is recorded.
func (c *claims) claim(ctx context.Context, j *ingestJob, sha string) (bool, error) {
	c.mu.Lock()
	first := c.bySHA[sha]
	if first == nil {
		c.bySHA[sha] = j
	}
	c.mu.Unlock()
	j.sha = sha
	if first != nil {
		j.same = first
		return false, nil
	}
	if j.lock == nil {
		lk, err := c.s.tryLockIngest(sha)
		if err != nil {
			return false, err
		}
		if lk == nil {
			j.deferred = true
			return false, nil
		}
		j.lock = lk
	}
	// Check, with the lock: another process may have finished it.
	if e, err := c.s.complete(ctx, sha); err != nil || e != nil {
		j.res.Entry, j.res.Reused = e, e != nil
		return false, err
	}
	// A directory without a row is the trace of a crash between rename and
	// commit. Its content was verified before the rename, but its
	// fingerprint was lost with the process: unpack again.
	if _, err := os.Lstat(c.s.EntryDir(sha)); err == nil {
		if err := removeTree(c.s.EntryDir(sha)); err != nil {
			return false, fmt.Errorf("wheel %s: clearing orphan store directory: %w", j.base, err)
		}
	}
	return true, nil
}

// stage unpacks and verifies one wheel into a staging directory, hashing
// it first or alongside when its digest is not known yet, unless claim
// gives its digest to another job, process or entry.
func (s *Store) stage(ctx context.Context, j *ingestJob, c *claims) error {
	if j.sha != "" {
		if mine, err := c.claim(ctx, j, j.sha); !mine || err != nil {
			return err
		}
	}
	f, err := os.Open(j.path)
	if err != nil {
		return fmt.Errorf("wheel %s: %w", j.base, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if s.holdWheel(size) {
		defer s.wheelMem.Add(-size)
		b := make([]byte, size)
		if _, err := io.ReadFull(f, b); err != nil {
			return fmt.Errorf("wheel %s: %w", j.base, err)
		}
		if j.sha == "" {
			sum := sha256.Sum256(b)
			j.hashed = hex.EncodeToString(sum[:])
			if mine, err := c.claim(ctx, j, j.hashed); !mine || err != nil {
				return err
			}
		}
		return s.unpack(ctx, j, bytes.NewReader(b), size, j.sha)
	}
	if j.sha != "" {
		return s.unpack(ctx, j, f, size, j.sha)
	}
	// Too large to hold: hashed from the file while it is unpacked. A
	// digest claimed elsewhere stops the unpacking.
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mine bool
	var herr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		var sha string
		t := progress.From(ctx).Task("hashing", j.wf.Name+"-"+j.wf.Version, size, progress.Bytes)
		sha, herr = hashAt(uctx, progress.ReaderAt(f, t), size)
		if t.Done(); herr == nil {
			j.hashed = sha
			mine, herr = c.claim(ctx, j, sha)
		}
		if !mine {
			cancel()
		}
	}()
	uerr := s.unpack(uctx, j, f, size, "")
	<-done // even after a failure: the identity of a hashed file is recorded
	switch {
	case j.hashed != "" && herr == nil && !mine: // reused, or another's to unpack
		if j.staging != "" {
			removeTree(j.staging)
			j.staging = ""
		}
		return nil
	case uerr != nil:
		return uerr
	case herr != nil:
		return fmt.Errorf("wheel %s: %w", j.base, herr)
	}
	return nil
}

// unpack stages the wheel read from src into a new staging directory
// (j.staging) and makes its entry (j.entry), its digest left to
// recordEntries. sha is the digest when known: the staging directory is
// named after it, so that gc leaves it while its ingest lock is held. It
// reads no other field of j that claim may be writing meanwhile.
func (s *Store) unpack(ctx context.Context, j *ingestJob, src io.ReaderAt, size int64, sha string) error {
	base, wf := j.base, j.wf
	t := progress.From(ctx).Task("unpacking", wf.Name+"-"+wf.Version, size, progress.Bytes)
	defer t.Done()
	src = progress.ReaderAt(src, t) // the archive's bytes, as archive/zip reads them
	zr, err := openZip(src, size)
	if err != nil {
		return fmt.Errorf("wheel %s: %w", base, err)
	}
	plan, err := s.planMembers(zr, wf)
	if err != nil {
		return fmt.Errorf("wheel %s: %w", base, err)
	}
	plan.src = src
	fb := abi.NewFingerprintBuilder(wf)
	fb.SetWheelFile(plan.meta.wheel.Tags)
	fb.SetMetadata(plan.metadataRaw)
	fb.SetVariantJSON(plan.variantRaw)

	prefix := "new"
	if sha != "" {
		prefix = sha[:16]
	}
	staging, err := os.MkdirTemp(s.StagingDir(), prefix+"-")
	if err != nil {
		return fmt.Errorf("wheel %s: staging: %w", base, err)
	}
	j.staging = staging // removed by ingestNew unless committed
	unpacked, err := s.extract(ctx, plan, staging, fb)
	if err != nil {
		return fmt.Errorf("wheel %s: %w", base, err)
	}
	fp := fb.Finish(len(plan.files))
	// A binary forge cannot read is one it cannot vouch for: refuse it here
	// rather than let it reach an environment with an unknown ABI.
	for _, pr := range fp.Problems {
		if pr.Code == abi.CodeMalformedELF || pr.Code == abi.CodeMalformedFatbin {
			return fmt.Errorf("wheel %s: member %s: %s (%s): %w", base, pr.File, pr.Message, pr.Code, ErrInvalid)
		}
	}

	// Directories become read-only bottom-up; the top stays writable until
	// after the rename, which needs to update its "..".
	if err := sealDirs(staging, plan.dirs); err != nil {
		return fmt.Errorf("wheel %s: %w", base, err)
	}
	e := &Entry{
		Name: plan.meta.meta.Name, NormName: wheel.NormalizeName(wf.Name), Version: wf.Version,
		Build: wf.Build, Filename: base, WheelSize: size, Size: unpacked, Files: len(plan.files), Fingerprint: fp,
	}
	if e.Name == "" {
		e.Name = wf.Name
	}
	for _, t := range wf.Tags {
		e.Tags = append(e.Tags, t.String())
	}
	j.entry = e
	return nil
}

// renameStaged moves a flushed staging directory into place. It reports
// false when another process's complete copy was there first.
func (s *Store) renameStaged(ctx context.Context, j *ingestJob) (bool, error) {
	if err := os.Rename(j.staging, s.EntryDir(j.sha)); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY) {
			// Another process finished first (it could not, under our lock,
			// unless the lock file was removed): its copy is complete.
			if e, err := s.complete(ctx, j.sha); e != nil || err != nil {
				j.res.Entry, j.res.Reused = e, e != nil
				return false, err
			}
		}
		return false, fmt.Errorf("wheel %s: %w", j.base, err)
	}
	j.staging = ""
	return true, nil
}

// recordEntries makes renamed entries read-only and commits their rows, in
// one transaction.
func (s *Store) recordEntries(ctx context.Context, jobs []*ingestJob) error {
	if len(jobs) == 0 {
		return nil
	}
	for _, j := range jobs {
		if err := os.Chmod(s.EntryDir(j.sha), 0o555); err != nil {
			return err
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, j := range jobs {
		e := j.entry
		e.SHA256 = j.sha
		tagsJSON, _ := json.Marshal(e.Tags)
		fpJSON, err := json.Marshal(e.Fingerprint)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO entries (`+entryCols+`, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,0,?,?)
		ON CONFLICT(sha256) DO NOTHING`,
			e.SHA256, e.Name, e.NormName, e.Version, e.Build, e.Filename, string(tagsJSON), e.WheelSize, e.Size, e.Files, string(fpJSON), time.Now().UnixNano())
		if err != nil {
			return fmt.Errorf("wheel %s: recording entry: %w", j.base, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recording entries: %w", err)
	}
	for _, j := range jobs {
		j.res.Entry = j.entry
	}
	return nil
}

// complete returns the entry when both its row and its directory exist.
func (s *Store) complete(ctx context.Context, sha string) (*Entry, error) {
	e, err := s.Get(ctx, sha)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(s.EntryDir(sha)); err != nil {
		// A row without its directory: an earlier run was interrupted or
		// somebody deleted it. Not complete; doctor reports it, ingest redoes it.
		if _, err := s.db.ExecContext(ctx, `DELETE FROM entries WHERE sha256 = ? AND refs = 0`, sha); err != nil {
			return nil, err
		}
		return nil, nil
	}
	return e, nil
}

// syncFS flushes the filesystem holding dir: one syncfs(2) instead of an
// fsync per member.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// removeTree deletes a store or staging tree, making directories writable on
// the way down (entries are read-only).
func removeTree(root string) error {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(root)
}

// wholeWheelMax is the size up to which a wheel is read into memory with
// one read before it is unpacked. archive/zip reads a member's local
// header, data and data descriptor with a call each: a wheel of small
// members cost four pread(2) calls per member.
var wholeWheelMax int64 = 8 << 20

// wheelMemMax bounds the wheels a store holds in memory at once, however
// many are unpacked concurrently; the others are read from their files.
const wheelMemMax = 64 << 20

// holdWheel reports whether a wheel of n bytes may be read into memory, and
// if so counts it until the caller subtracts it from wheelMem again.
func (s *Store) holdWheel(n int64) bool {
	if n > wholeWheelMax {
		return false
	}
	if s.wheelMem.Add(n) > wheelMemMax {
		s.wheelMem.Add(-n)
		return false
	}
	return true
}
