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

var signatureFiles = map[string]bool{"RECORD": true, "RECORD.jws": true, "RECORD.p7s": true}

// planMembers validates names, modes, sizes and RECORD coverage before any
// byte is written.
func (s *Store) planMembers(zr *zip.Reader, wf wheel.Filename) (*memberPlan, error) {
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
		if err := wheel.CheckMemberName(name); err != nil {
			return nil, fmt.Errorf("%v: %w", err, ErrInvalid)
		}
		key := wheel.FoldName(strings.TrimSuffix(name, "/"))
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
	want := wheel.DistInfoName(wf.Name)
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
	if wheel.DistInfoName(diName) != want || !sameVersion(diVersion, wf.Version) {
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
	entries, err := wheel.ParseRecord(recordRaw)
	if err != nil {
		return nil, fmt.Errorf("malformed RECORD: %v: %w", err, ErrInvalid)
	}
	p.record = make(map[string]wheel.RecordEntry, len(entries))
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
	if wf.Variant != "" && byName[p.distInfo+"/"+wheel.VariantFile] != nil {
		if p.variantRaw, err = small(wheel.VariantFile); err != nil {
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
