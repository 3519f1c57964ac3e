package wheel_test

import (
	"reflect"
	"testing"

	"github.com/forge-ml/forge/wheel"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		bad      bool
	}{
		{"plain", "a.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\nx.dist-info/RECORD,,\n", 2, false},
		{"quoted comma", "\"a,b.py\",sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n", 1, false},
		{"md5", "a.py,md5=1B2M2Y8AsgTpgAmY7PhCfg,0\n", 0, true},
		{"short digest", "a.py,sha256=AAAA,0\n", 0, true},
		{"two fields", "a.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU\n", 0, true},
		{"negative size", "a.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,-1\n", 0, true},
		{"no equals", "a.py,sha256,0\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wheel.ParseRecord([]byte(tt.in))
			if (err != nil) != tt.bad {
				t.Fatalf("err = %v, want bad=%v", err, tt.bad)
			}
			if !tt.bad && len(got) != tt.n {
				t.Errorf("%d entries, want %d", len(got), tt.n)
			}
		})
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add([]byte("a.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\nx.dist-info/RECORD,,\n"))
	f.Add([]byte("\"a\nb\",,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := wheel.ParseRecord(data)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Path == "" || (e.Algo != "" && len(e.Digest) == 0) || e.Size < -1 {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}

// TestFormatRecord: lines as pip writes them, hash and size left empty
// where absent, a path with a comma quoted; ParseRecord reads them back.
func TestFormatRecord(t *testing.T) {
	in := "a.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n\"b,c.py\",,\nx.dist-info/RECORD,,\n"
	entries, err := wheel.ParseRecord([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := wheel.FormatRecord(entries)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Errorf("FormatRecord = %q, want %q", out, in)
	}
}

// FuzzFormatRecord: what ParseRecord accepts, FormatRecord writes so that
// ParseRecord reads the same entries back.
func FuzzFormatRecord(f *testing.F) {
	f.Add([]byte("a.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\nx.dist-info/RECORD,,\n"))
	f.Add([]byte("\"a\nb\",,7\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := wheel.ParseRecord(data)
		if err != nil {
			return
		}
		out, err := wheel.FormatRecord(entries)
		if err != nil {
			t.Fatal(err)
		}
		back, err := wheel.ParseRecord(out)
		if err != nil {
			t.Fatalf("ParseRecord(FormatRecord(...)): %v\n%q", err, out)
		}
		if len(back) != len(entries) || len(entries) > 0 && !reflect.DeepEqual(back, entries) {
			t.Fatalf("round trip: %+v, want %+v", back, entries)
		}
	})
}

func TestIsRecordFile(t *testing.T) {
	const di = "pkg-1.0.dist-info"
	for name, want := range map[string]bool{
		di + "/RECORD": true, di + "/RECORD.jws": true, di + "/RECORD.p7s": true,
		di + "/METADATA": false, "other-1.0.dist-info/RECORD": false, di + "/sub/RECORD": false, "RECORD": false,
	} {
		if got := wheel.IsRecordFile(di, name); got != want {
			t.Errorf("IsRecordFile(%q, %q) = %v, want %v", di, name, got, want)
		}
	}
}
