package lockfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseLock: Parse never panics, and every error it returns is an
// *Error of one of the package's kinds; a lock it accepts survives Marshal
// and Parse again and can be selected from.
func FuzzParseLock(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.toml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse("fuzz.toml", data)
		if err != nil {
			var le *Error
			if !errors.As(err, &le) || !(errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnsupported)) {
				t.Fatalf("error of another kind: %T %v", err, err)
			}
			return
		}
		if _, err := l.Select("fuzz.toml", linux312); err != nil {
			var le *Error
			if !errors.As(err, &le) {
				t.Fatalf("Select error of another kind: %T %v", err, err)
			}
		}
		out, err := Marshal(l)
		if err != nil {
			return // a value TOML cannot hold as read (an odd datetime) is not Parse's fault
		}
		if _, err := Parse("again.toml", out); err != nil {
			t.Fatalf("a parsed lock, written again, does not parse: %v\n%s", err, out)
		}
	})
}
