package store

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/forge-ml/forge/wheel"
)

// memberPlan is a validated wheel, ready to extract.
type memberPlan struct {
	src         io.ReaderAt // the archive
	files       []*zip.File // regular files, largest first
	dirs        []string    // every directory to create, parents first
	record      map[string]wheel.RecordEntry
	distInfo    string
	meta        wheelMeta
	metadataRaw []byte
	variantRaw  []byte // .dist-info/variant.json of a PEP 825 variant wheel, nil when absent
}

// planMembers validates names, modes, sizes and RECORD coverage before any
// byte is written. The checks run in a fixed order, member by member and
// then over the whole archive, so that a wheel breaking several rules is
// always refused for the same one.
func (s *Store) planMembers(zr *zip.Reader, wf wheel.Filename) (*memberPlan, error) {
	if len(zr.File) > s.MaxMembers {
		return nil, fmt.Errorf("%d members: too many members (limit %d): %w", len(zr.File), s.MaxMembers, ErrInvalid)
	}
	pl := &planner{
		s:         s,
		p:         &memberPlan{},
		seen:      make(map[string]string, len(zr.File)),
		dirs:      map[string]bool{},
		distInfos: map[string]bool{},
		byName:    map[string]*zip.File{},
	}
	for _, f := range zr.File {
		if err := pl.add(f); err != nil {
			return nil, err
		}
	}
	if err := pl.checkTree(zr.File, wf); err != nil {
		return nil, err
	}
	if err := pl.readRecord(); err != nil {
		return nil, err
	}
	if err := pl.readMeta(wf); err != nil {
		return nil, err
	}
	return pl.finish(), nil
}

// planner is what planMembers learns about a wheel as it goes.
type planner struct {
	s         *Store
	p         *memberPlan
	seen      map[string]string // member names by wheel.FoldName key
	dirs      map[string]bool   // directories, listed or implied
	distInfos map[string]bool   // top-level .dist-info directories
	total     uint64            // declared unpacked size so far
	byName    map[string]*zip.File
}

// add checks one member on its own: its name, that no other has it, its
// mode and, for a file, its declared sizes and compression method.
func (pl *planner) add(f *zip.File) error {
	name := f.Name
	if err := pl.checkName(name); err != nil {
		return err
	}
	mode := f.Mode()
	if err := checkMode(name, mode); err != nil {
		return err
	}
	top, _, _ := strings.Cut(name, "/")
	if strings.HasSuffix(top, ".dist-info") {
		pl.distInfos[top] = true
	}
	if strings.HasSuffix(name, "/") || mode.IsDir() {
		// Its bytes would be dropped here, and installed as a file by
		// pip: the two would disagree about what the wheel holds. An
		// empty deflate stream is 2 bytes.
		if f.UncompressedSize64 != 0 || f.CompressedSize64 > 2 {
			return fmt.Errorf("member %q (mode %v) is a directory carrying data (%d bytes): %w", name, mode, f.UncompressedSize64, ErrInvalid)
		}
		pl.dirs[strings.TrimSuffix(name, "/")] = true
		return nil
	}
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		pl.dirs[d] = true
	}
	if err := pl.checkSize(f); err != nil {
		return err
	}
	if f.Method != zip.Store && f.Method != zip.Deflate {
		return fmt.Errorf("member %q uses unsupported compression method %d: %w", name, f.Method, ErrInvalid)
	}
	pl.byName[name] = f
	pl.p.files = append(pl.p.files, f)
	return nil
}

// checkName refuses an unsafe name (wheel.CheckMemberName) and a name
// another member has, exactly or once case and Unicode normalisation are
// folded away.
func (pl *planner) checkName(name string) error {
	if err := wheel.CheckMemberName(name); err != nil {
		return fmt.Errorf("%v: %w", err, ErrInvalid)
	}
	key := wheel.FoldName(strings.TrimSuffix(name, "/"))
	if prev, dup := pl.seen[key]; dup {
		if prev == name {
			return fmt.Errorf("duplicate member name %q: %w", name, ErrInvalid)
		}
		return fmt.Errorf("duplicate member names %q and %q (they differ only in case or Unicode normalisation): %w", prev, name, ErrInvalid)
	}
	pl.seen[key] = name
	return nil
}

// checkMode refuses symlinks and special files.
func checkMode(name string, mode fs.FileMode) error {
	if mode&fs.ModeSymlink != 0 {
		return fmt.Errorf("member %q is a symlink: %w", name, ErrInvalid)
	}
	if mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeIrregular) != 0 {
		return fmt.Errorf("member %q is a special file (%v): %w", name, mode.Type(), ErrInvalid)
	}
	return nil
}

// checkSize refuses a file that takes the wheel past the store's unpacked
// size limit, or that inflates more than MaxMemberRatio times: zip bombs.
func (pl *planner) checkSize(f *zip.File) error {
	s := pl.s
	pl.total += f.UncompressedSize64
	if pl.total > uint64(s.MaxUnpacked) {
		return fmt.Errorf("declares more than %d bytes unpacked: zip bomb: %w", s.MaxUnpacked, ErrInvalid)
	}
	if f.UncompressedSize64 > 1<<20 && (f.CompressedSize64 == 0 || f.UncompressedSize64/f.CompressedSize64 > uint64(s.MaxMemberRatio)) {
		return fmt.Errorf("member %q inflates %d bytes from %d: ratio above %d: zip bomb: %w", f.Name, f.UncompressedSize64, f.CompressedSize64, s.MaxMemberRatio, ErrInvalid)
	}
	return nil
}

// checkTree checks the members together: no name is both a file and a
// directory, there is one .dist-info directory and it is the file name's,
// and every member lands where the wheel may own it (checkLayout).
func (pl *planner) checkTree(files []*zip.File, wf wheel.Filename) error {
	for d := range pl.dirs {
		if _, ok := pl.byName[d]; ok {
			return fmt.Errorf("member %q is both a file and a directory (conflict): %w", d, ErrInvalid)
		}
	}
	want := wheel.DistInfoName(wf.Name)
	switch len(pl.distInfos) {
	case 0:
		return fmt.Errorf("no .dist-info directory: %w", ErrInvalid)
	case 1:
	default:
		return fmt.Errorf("%d .dist-info directories: %w", len(pl.distInfos), ErrInvalid)
	}
	for d := range pl.distInfos {
		pl.p.distInfo = d
	}
	diName, diVersion, _ := strings.Cut(strings.TrimSuffix(pl.p.distInfo, ".dist-info"), "-")
	if wheel.DistInfoName(diName) != want || !wheel.SameVersion(diVersion, wf.Version) {
		return fmt.Errorf("directory %s does not match the file name (%s %s): %w", pl.p.distInfo, wf.Name, wf.Version, ErrInvalid)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	return checkLayout(names, pl.p.distInfo)
}

// readSmall reads the .dist-info file name (RECORD, WHEEL, ...) whole.
func (pl *planner) readSmall(name string) ([]byte, error) {
	distInfo := pl.p.distInfo
	f := pl.byName[distInfo+"/"+name]
	if f == nil {
		return nil, fmt.Errorf("missing %s (%s/%s): %w", name, distInfo, name, ErrInvalid)
	}
	if f.UncompressedSize64 > 64<<20 {
		return nil, fmt.Errorf("%s/%s larger than 64 MiB: %w", distInfo, name, ErrInvalid)
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

// readRecord reads RECORD and checks that it and the archive agree: each
// path listed once and present, each file listed with a hash (signature
// files aside).
func (pl *planner) readRecord() error {
	p := pl.p
	recordRaw, err := pl.readSmall("RECORD")
	if err != nil {
		return err
	}
	entries, err := wheel.ParseRecord(recordRaw)
	if err != nil {
		return fmt.Errorf("malformed RECORD: %v: %w", err, ErrInvalid)
	}
	p.record = make(map[string]wheel.RecordEntry, len(entries))
	for _, e := range entries {
		if _, dup := p.record[e.Path]; dup {
			return fmt.Errorf("RECORD lists %s twice: %w", e.Path, ErrInvalid)
		}
		p.record[e.Path] = e
		if pl.byName[e.Path] == nil && !pl.dirs[strings.TrimSuffix(e.Path, "/")] {
			return fmt.Errorf("RECORD lists %s, which is missing from archive: %w", e.Path, ErrCorrupt)
		}
	}
	for _, f := range p.files {
		e, ok := p.record[f.Name]
		isSig := wheel.IsRecordFile(p.distInfo, f.Name)
		switch {
		case !ok && !isSig:
			return fmt.Errorf("member %s is not in RECORD: %w", f.Name, ErrCorrupt)
		case ok && e.Algo == "" && !isSig:
			return fmt.Errorf("RECORD has no hash for %s: %w", f.Name, ErrCorrupt)
		}
	}
	return nil
}

// readMeta reads WHEEL and METADATA, checks them against the file name,
// and reads a variant wheel's variant.json when it has one.
func (pl *planner) readMeta(wf wheel.Filename) error {
	p := pl.p
	wheelRaw, err := pl.readSmall("WHEEL")
	if err != nil {
		return err
	}
	if p.metadataRaw, err = pl.readSmall("METADATA"); err != nil {
		return err
	}
	if p.meta, err = parseWheelMeta(wf, wheelRaw, p.metadataRaw); err != nil {
		return err
	}
	if wf.Variant != "" && pl.byName[p.distInfo+"/"+wheel.VariantFile] != nil {
		if p.variantRaw, err = pl.readSmall(wheel.VariantFile); err != nil {
			return err
		}
	}
	return nil
}

// finish orders the plan: files largest first, directories parents first.
func (pl *planner) finish() *memberPlan {
	p := pl.p
	sort.SliceStable(p.files, func(i, j int) bool { return p.files[i].UncompressedSize64 > p.files[j].UncompressedSize64 })
	for d := range pl.dirs {
		p.dirs = append(p.dirs, d)
	}
	sort.Strings(p.dirs) // parents sort before their children
	return p
}
