package wheel

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strconv"
	"strings"
)

// RecordEntry is one line of a wheel's RECORD file.
type RecordEntry struct {
	Path   string
	Algo   string // "sha256", "sha384", "sha512"; "" when the line has no hash
	Digest []byte
	Size   int64 // -1 when absent
}

// recordFiles are RECORD and its signatures (PEP 427): the .dist-info
// files a RECORD lists without a hash, or not at all.
var recordFiles = map[string]bool{"RECORD": true, "RECORD.jws": true, "RECORD.p7s": true}

// IsRecordFile reports whether the member name is the RECORD of the
// .dist-info directory distInfo or one of its signatures.
func IsRecordFile(distInfo, name string) bool {
	return path.Dir(name) == distInfo && recordFiles[path.Base(name)]
}

// ParseRecord parses a RECORD file (CSV: path,algo=urlsafe-b64-digest,size).
// Lines for RECORD itself and its signatures may have empty hash and size.
func ParseRecord(data []byte) ([]RecordEntry, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	var out []RecordEntry
	line := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line++
		if err != nil {
			return nil, fmt.Errorf("RECORD line %d: %v", line, err)
		}
		if len(rec) == 1 && rec[0] == "" {
			continue
		}
		if len(rec) != 3 {
			return nil, fmt.Errorf("RECORD line %d: want 3 fields (path,hash,size), got %d", line, len(rec))
		}
		e := RecordEntry{Path: rec[0], Size: -1}
		if e.Path == "" {
			return nil, fmt.Errorf("RECORD line %d: empty path", line)
		}
		if rec[1] != "" {
			algo, digest, ok := strings.Cut(rec[1], "=")
			if !ok {
				return nil, fmt.Errorf("RECORD line %d: hash %q is not algo=digest", line, rec[1])
			}
			if NewHash(algo) == nil {
				return nil, fmt.Errorf("RECORD line %d: unsupported hash algorithm %q (want sha256, sha384 or sha512)", line, algo)
			}
			d, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(digest, "="))
			if err != nil {
				return nil, fmt.Errorf("RECORD line %d: hash of %s is not urlsafe base64", line, e.Path)
			}
			if len(d) != NewHash(algo).Size() {
				return nil, fmt.Errorf("RECORD line %d: %s digest of %s has %d bytes, want %d", line, algo, e.Path, len(d), NewHash(algo).Size())
			}
			e.Algo, e.Digest = algo, d
		}
		if rec[2] != "" {
			n, err := strconv.ParseInt(rec[2], 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("RECORD line %d: size %q of %s is not a non-negative integer", line, rec[2], e.Path)
			}
			e.Size = n
		}
		out = append(out, e)
	}
	return out, nil
}

func NewHash(algo string) hash.Hash {
	switch algo {
	case "sha256":
		return sha256.New()
	case "sha384":
		return sha512.New384()
	case "sha512":
		return sha512.New()
	}
	return nil
}

// RecordDigest formats a digest as RECORD writes it.
func RecordDigest(algo string, sum []byte) string {
	return algo + "=" + base64.RawURLEncoding.EncodeToString(sum)
}

// FormatRecord writes entries as a RECORD file, in the order given: a
// line's hash is empty when its Algo is, its size when its Size is -1.
func FormatRecord(entries []RecordEntry) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	for _, e := range entries {
		hash, size := "", ""
		if e.Algo != "" {
			hash = RecordDigest(e.Algo, e.Digest)
		}
		if e.Size >= 0 {
			size = strconv.FormatInt(e.Size, 10)
		}
		if err := w.Write([]string{e.Path, hash, size}); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return b.Bytes(), w.Error()
}
