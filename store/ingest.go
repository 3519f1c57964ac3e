package store

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/flate"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/internal/progress"
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
		wf, err := abi.ParseWheelFilename(j.base)
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
	wf         abi.WheelFilename
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
		Name: plan.meta.meta.Name, NormName: abi.NormalizeName(wf.Name), Version: wf.Version,
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

// fileID is the identity a wheel file is recognised by: see README "warm
// installs". A file whose identity matches one hashed before is trusted to
// have the same content.
type fileID struct {
	abs                          string
	dev, ino, size, mtime, ctime int64
}

func wheelFileID(p string) (fileID, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return fileID{}, err
	}
	var st unix.Stat_t
	if err := unix.Stat(abs, &st); err != nil {
		return fileID{}, &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fileID{}, fmt.Errorf("not a regular file: %w", ErrInvalid)
	}
	return fileID{abs, int64(st.Dev), int64(st.Ino), st.Size, st.Mtim.Nano(), st.Ctim.Nano()}, nil
}

// knownDigests returns, by absolute path, the digests of the files whose
// identity matches the one recorded when they were hashed, in one query.
func (s *Store) knownDigests(ctx context.Context, ids []fileID) (map[string]string, error) {
	paths := make([]any, len(ids))
	for i, id := range ids {
		paths[i] = id.abs
	}
	rows, err := s.db.QueryContext(ctx, `SELECT path, dev, inode, size, mtime_ns, ctime_ns, sha256 FROM wheel_files
		WHERE path IN (SELECT value FROM json_each(?))`, jsonList(paths))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	recorded := map[string]fileID{}
	shas := map[string]string{}
	for rows.Next() {
		var id fileID
		var sha string
		if err := rows.Scan(&id.abs, &id.dev, &id.ino, &id.size, &id.mtime, &id.ctime, &sha); err != nil {
			return nil, err
		}
		recorded[id.abs], shas[id.abs] = id, sha
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, id := range ids {
		if r, ok := recorded[id.abs]; ok && r == id {
			out[id.abs] = shas[id.abs]
		}
	}
	return out, nil
}

// hashAt returns the SHA-256 of the size bytes of f, reading them in
// chunks until ctx is done.
func hashAt(ctx context.Context, f io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	buf := *bufp
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		h.Write(buf[:n])
		off += int64(n)
		if err != nil && !(err == io.EOF && off == size) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the file shrank
			}
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// recordWheelFiles records the identity of each wheel file a job hashed
// (taken before it was read), in one statement: one commit per wheel cost
// a cold install of 200 small wheels 25 ms, the commits queueing for the
// write lock.
func (s *Store) recordWheelFiles(ctx context.Context, jobs []*ingestJob) error {
	var rows []any
	for _, j := range jobs {
		if id := j.id; j.hashed != "" {
			rows = append(rows, []any{id.abs, id.dev, id.ino, id.size, id.mtime, id.ctime, j.hashed})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO wheel_files (path, dev, inode, size, mtime_ns, ctime_ns, sha256)
		SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'),
			json_extract(value, '$[4]'), json_extract(value, '$[5]'), json_extract(value, '$[6]') FROM json_each(?) WHERE true
		ON CONFLICT(path) DO UPDATE SET dev=excluded.dev, inode=excluded.inode, size=excluded.size, mtime_ns=excluded.mtime_ns, ctime_ns=excluded.ctime_ns, sha256=excluded.sha256`,
		jsonList(rows))
	return err
}

// memberPlan is a validated wheel, ready to extract.
type memberPlan struct {
	src         io.ReaderAt // the archive
	files       []*zip.File // regular files, largest first
	dirs        []string    // every directory to create, parents first
	record      map[string]RecordEntry
	distInfo    string
	meta        wheelMeta
	metadataRaw []byte
	variantRaw  []byte // .dist-info/variant.json of a PEP 825 variant wheel, nil when absent
}

var signatureFiles = map[string]bool{"RECORD": true, "RECORD.jws": true, "RECORD.p7s": true}

// planMembers validates names, modes, sizes and RECORD coverage before any
// byte is written.
func (s *Store) planMembers(zr *zip.Reader, wf abi.WheelFilename) (*memberPlan, error) {
	if len(zr.File) > s.MaxMembers {
		return nil, fmt.Errorf("%d members: too many members (limit %d): %w", len(zr.File), s.MaxMembers, ErrInvalid)
	}
	p := &memberPlan{}
	seen := make(map[string]string, len(zr.File))
	dirs := map[string]bool{}
	distInfos := map[string]bool{}
	var total uint64
	byName := map[string]*zip.File{}
	for _, f := range zr.File {
		name := f.Name
		if err := checkMemberName(name); err != nil {
			return nil, fmt.Errorf("%v: %w", err, ErrInvalid)
		}
		key := foldName(strings.TrimSuffix(name, "/"))
		if prev, dup := seen[key]; dup {
			if prev == name {
				return nil, fmt.Errorf("duplicate member name %q: %w", name, ErrInvalid)
			}
			return nil, fmt.Errorf("duplicate member names %q and %q (they differ only in case or Unicode normalisation): %w", prev, name, ErrInvalid)
		}
		seen[key] = name
		mode := f.Mode()
		if mode&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("member %q is a symlink: %w", name, ErrInvalid)
		}
		if mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeIrregular) != 0 {
			return nil, fmt.Errorf("member %q is a special file (%v): %w", name, mode.Type(), ErrInvalid)
		}
		top, _, _ := strings.Cut(name, "/")
		if strings.HasSuffix(top, ".dist-info") {
			distInfos[top] = true
		}
		if strings.HasSuffix(name, "/") || mode.IsDir() {
			// Its bytes would be dropped here, and installed as a file by
			// pip: the two would disagree about what the wheel holds. An
			// empty deflate stream is 2 bytes.
			if f.UncompressedSize64 != 0 || f.CompressedSize64 > 2 {
				return nil, fmt.Errorf("member %q (mode %v) is a directory carrying data (%d bytes): %w", name, mode, f.UncompressedSize64, ErrInvalid)
			}
			dirs[strings.TrimSuffix(name, "/")] = true
			continue
		}
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
		total += f.UncompressedSize64
		if total > uint64(s.MaxUnpacked) {
			return nil, fmt.Errorf("declares more than %d bytes unpacked: zip bomb: %w", s.MaxUnpacked, ErrInvalid)
		}
		if f.UncompressedSize64 > 1<<20 && (f.CompressedSize64 == 0 || f.UncompressedSize64/f.CompressedSize64 > uint64(s.MaxMemberRatio)) {
			return nil, fmt.Errorf("member %q inflates %d bytes from %d: ratio above %d: zip bomb: %w", name, f.UncompressedSize64, f.CompressedSize64, s.MaxMemberRatio, ErrInvalid)
		}
		if f.Method != zip.Store && f.Method != zip.Deflate {
			return nil, fmt.Errorf("member %q uses unsupported compression method %d: %w", name, f.Method, ErrInvalid)
		}
		byName[name] = f
		p.files = append(p.files, f)
	}
	// A directory name that is also a file name.
	for d := range dirs {
		if _, ok := byName[d]; ok {
			return nil, fmt.Errorf("member %q is both a file and a directory (conflict): %w", d, ErrInvalid)
		}
	}
	want := abi.DistInfoName(wf.Name)
	switch len(distInfos) {
	case 0:
		return nil, fmt.Errorf("no .dist-info directory: %w", ErrInvalid)
	case 1:
	default:
		return nil, fmt.Errorf("%d .dist-info directories: %w", len(distInfos), ErrInvalid)
	}
	for d := range distInfos {
		p.distInfo = d
	}
	diName, diVersion, _ := strings.Cut(strings.TrimSuffix(p.distInfo, ".dist-info"), "-")
	if abi.DistInfoName(diName) != want || !sameVersion(diVersion, wf.Version) {
		return nil, fmt.Errorf("directory %s does not match the file name (%s %s): %w", p.distInfo, wf.Name, wf.Version, ErrInvalid)
	}
	names := make([]string, len(zr.File))
	for i, f := range zr.File {
		names[i] = f.Name
	}
	if err := checkLayout(names, p.distInfo); err != nil {
		return nil, err
	}

	small := func(name string) ([]byte, error) {
		f := byName[p.distInfo+"/"+name]
		if f == nil {
			return nil, fmt.Errorf("missing %s (%s/%s): %w", name, p.distInfo, name, ErrInvalid)
		}
		if f.UncompressedSize64 > 64<<20 {
			return nil, fmt.Errorf("%s/%s larger than 64 MiB: %w", p.distInfo, name, ErrInvalid)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", f.Name, err, ErrCorrupt)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", f.Name, err, ErrCorrupt)
		}
		return b, nil
	}
	recordRaw, err := small("RECORD")
	if err != nil {
		return nil, err
	}
	entries, err := ParseRecord(recordRaw)
	if err != nil {
		return nil, fmt.Errorf("malformed RECORD: %v: %w", err, ErrInvalid)
	}
	p.record = make(map[string]RecordEntry, len(entries))
	for _, e := range entries {
		if _, dup := p.record[e.Path]; dup {
			return nil, fmt.Errorf("RECORD lists %s twice: %w", e.Path, ErrInvalid)
		}
		p.record[e.Path] = e
		if byName[e.Path] == nil && !dirs[strings.TrimSuffix(e.Path, "/")] {
			return nil, fmt.Errorf("RECORD lists %s, which is missing from archive: %w", e.Path, ErrCorrupt)
		}
	}
	for _, f := range p.files {
		e, ok := p.record[f.Name]
		isSig := path.Dir(f.Name) == p.distInfo && signatureFiles[path.Base(f.Name)]
		switch {
		case !ok && !isSig:
			return nil, fmt.Errorf("member %s is not in RECORD: %w", f.Name, ErrCorrupt)
		case ok && e.Algo == "" && !isSig:
			return nil, fmt.Errorf("RECORD has no hash for %s: %w", f.Name, ErrCorrupt)
		}
	}
	wheelRaw, err := small("WHEEL")
	if err != nil {
		return nil, err
	}
	p.metadataRaw, err = small("METADATA")
	if err != nil {
		return nil, err
	}
	if p.meta, err = parseWheelMeta(wf, wheelRaw, p.metadataRaw); err != nil {
		return nil, err
	}
	if wf.Variant != "" && byName[p.distInfo+"/"+abi.VariantFile] != nil {
		if p.variantRaw, err = small(abi.VariantFile); err != nil {
			return nil, err
		}
	}

	sort.SliceStable(p.files, func(i, j int) bool { return p.files[i].UncompressedSize64 > p.files[j].UncompressedSize64 })
	for d := range dirs {
		p.dirs = append(p.dirs, d)
	}
	sort.Strings(p.dirs) // parents sort before their children
	return p, nil
}

// sameVersion compares a .dist-info version with a file name version, which
// may differ only by the escaping of "-" and case.
func sameVersion(a, b string) bool {
	n := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "-", "_")) }
	return n(a) == n(b)
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// extract writes every member into staging in parallel, largest first, and
// returns the unpacked size.
func (s *Store) extract(ctx context.Context, p *memberPlan, staging string, fb *abi.FingerprintBuilder) (int64, error) {
	for _, d := range p.dirs {
		if err := os.Mkdir(filepath.Join(staging, filepath.FromSlash(d)), 0o755); err != nil {
			return 0, err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	workers := s.Workers
	if workers < 1 {
		workers = 1
	}
	g.SetLimit(workers)
	var mu sync.Mutex
	var total int64
	for _, f := range p.files {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			n, err := s.extractMember(f, p, staging, fb)
			mu.Lock()
			total += n
			mu.Unlock()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return total, ctx.Err()
}

// copyFull is io.CopyBuffer that fills buf before each write: inflate
// returns at most a window's worth (≤ 32 KiB) per Read, and writing that
// to the file directly cost a write(2) per 27 KiB (37,586 writes for the
// 1 GB corpus wheel, 8 s of system time here); 256 KiB writes make it 4,000.
func copyFull(dst io.Writer, src io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var m int
			m, err = src.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

type headCapture struct {
	buf [4]byte
	n   int
}

func (h *headCapture) Write(p []byte) (int, error) {
	if h.n < len(h.buf) {
		h.n += copy(h.buf[h.n:], p)
	}
	return len(p), nil
}

func (s *Store) extractMember(f *zip.File, p *memberPlan, staging string, fb *abi.FingerprintBuilder) (int64, error) {
	rec, listed := p.record[f.Name]
	mode := os.FileMode(0o444)
	if f.Mode()&0o111 != 0 {
		mode = 0o555
	}
	dst := filepath.Join(staging, filepath.FromSlash(f.Name))
	out, err := createMember(dst, mode)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	// Raw, so that the CRC-32 is computed once, with the hashes, not also
	// by archive/zip's reader; the data descriptor is checked below.
	raw, err := f.OpenRaw()
	if err != nil {
		return 0, fmt.Errorf("member %s: %v: %w", f.Name, err, ErrCorrupt)
	}
	rc := raw
	if f.Method == zip.Deflate {
		inf := inflater(raw)
		defer inf.Close()
		rc = inf
	}
	var head headCapture
	crc := crc32.NewIEEE()
	sums := []io.Writer{&head, crc}
	h := newHash(rec.Algo)
	if h != nil {
		sums = append(sums, h)
	}
	src := io.LimitReader(rc, int64(f.UncompressedSize64)+1)
	var n int64
	var dw *directWriter
	if f.UncompressedSize64 >= directMin {
		dw = newDirectWriter(out)
		n, err = copyPipelined(dw, io.MultiWriter(sums...), src)
	} else {
		bufp := copyBufs.Get().(*[]byte)
		n, err = copyFull(io.MultiWriter(append(sums, out)...), src, *bufp)
		copyBufs.Put(bufp)
	}
	if dw != nil {
		if ferr := dw.finish(); err == nil && ferr != nil {
			err = &fs.PathError{Op: "fcntl", Path: dst, Err: ferr}
		}
	}
	if err != nil {
		if errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) {
			return n, fmt.Errorf("member %s: %v (checksum or size check failed): %w", f.Name, err, ErrCorrupt)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return n, fmt.Errorf("member %s: writing: %w", f.Name, err)
		}
		return n, fmt.Errorf("member %s: %v: %w", f.Name, err, ErrCorrupt)
	}
	if uint64(n) != f.UncompressedSize64 {
		return n, fmt.Errorf("member %s: inflated to %d bytes, header says %d: %w", f.Name, n, f.UncompressedSize64, ErrCorrupt)
	}
	if crc.Sum32() != f.CRC32 {
		return n, fmt.Errorf("member %s: checksum error: CRC-32 %08x, header says %08x: %w", f.Name, crc.Sum32(), f.CRC32, ErrCorrupt)
	}
	if err := checkDescriptor(p.src, f); err != nil {
		return n, fmt.Errorf("member %s: %v: %w", f.Name, err, ErrCorrupt)
	}
	if listed {
		if rec.Size >= 0 && rec.Size != n {
			return n, fmt.Errorf("member %s: size mismatch: %d bytes, RECORD says %d: %w", f.Name, n, rec.Size, ErrCorrupt)
		}
		if h != nil {
			if sum := h.Sum(nil); !bytes.Equal(sum, rec.Digest) {
				return n, fmt.Errorf("member %s: hash mismatch: RECORD %s, content %s: %w", f.Name, RecordDigest(rec.Algo, rec.Digest), RecordDigest(rec.Algo, sum), ErrCorrupt)
			}
		}
	}
	if abi.IsELF(head.buf[:head.n]) && !s.skipFingerprint {
		fb.AddELF(f.Name, out, n)
	}
	return n, out.Close()
}

// createMember creates a member's file with its final read-only mode: the
// permission applies to later opens, not to this descriptor, and it saves a
// chmod per member. os.OpenFile would add five system calls to the one
// that creates the file (it offers every descriptor to the network poller,
// which refuses regular files): through os.NewFile, a descriptor that is
// not non-blocking costs one.
func createMember(path string, mode os.FileMode) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_CLOEXEC, uint32(mode.Perm()))
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_CLOEXEC, uint32(mode.Perm()))
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// sealDirs makes every directory below root read-only, deepest first.
func sealDirs(root string, dirs []string) error {
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(filepath.Join(root, filepath.FromSlash(dirs[i])), 0o555); err != nil {
			return err
		}
	}
	return nil
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

// openZip opens an archive after checking what archive/zip lets pass.
func openZip(f io.ReaderAt, size int64) (*zip.Reader, error) {
	if size == 0 {
		return nil, fmt.Errorf("empty file, not a zip archive: %w", ErrInvalid)
	}
	var magic [4]byte
	f.ReadAt(magic[:], 0)
	isZip := bytes.Equal(magic[:], []byte("PK\x03\x04")) || bytes.Equal(magic[:], []byte("PK\x05\x06"))
	zr, err := zip.NewReader(f, size)
	if err != nil {
		if isZip {
			return nil, fmt.Errorf("unreadable zip archive, truncated or damaged (%v): %w", err, ErrCorrupt)
		}
		return nil, fmt.Errorf("not a zip archive (%v): %w", err, ErrInvalid)
	}
	if err := checkZipStructure(f, size, zr.File); err != nil {
		return nil, err
	}
	zr.RegisterDecompressor(zip.Deflate, inflater)
	return zr, nil
}

// inflater replaces compress/flate, whose inflate is the largest cost of a
// cold ingest, with klauspost/compress's (same format, same errors for
// corrupt input, about half the CPU). archive/zip still checks sizes and
// CRC-32 around it. The read buffer is larger than flate's default 4 KiB so
// that a 1 GB member is not read with 250,000 pread calls; readers are
// pooled because a wheel of 10,000 small members would otherwise allocate
// 10,000 decompressors.
func inflater(r io.Reader) io.ReadCloser {
	p := inflaters.Get().(*pooledInflater)
	p.br.Reset(r)
	if p.fr == nil {
		p.fr = flate.NewReader(p.br)
	} else {
		p.fr.(flate.Resetter).Reset(p.br, nil)
	}
	return p
}

type pooledInflater struct {
	br *bufio.Reader
	fr io.ReadCloser
}

var inflaters = sync.Pool{New: func() any { return &pooledInflater{br: bufio.NewReaderSize(nil, 64<<10)} }}

func (p *pooledInflater) Read(b []byte) (int, error) { return p.fr.Read(b) }

// Close returns the reader to the pool; archive/zip calls it once.
func (p *pooledInflater) Close() error {
	err := p.fr.Close()
	p.br.Reset(nil)
	inflaters.Put(p)
	return err
}
