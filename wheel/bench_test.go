package wheel_test

import (
	"fmt"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/wheel"
)

// BenchmarkParseRecord is RECORD parsing for a 10,000-file wheel.
func BenchmarkParseRecord(b *testing.B) {
	var files []fixtures.File
	for i := 0; i < 10000; i++ {
		files = append(files, fixtures.File{Name: fmt.Sprintf("pkg/sub%02d/file%05d.py", i%40, i), Data: []byte(fmt.Sprint(i))})
	}
	rec := fixtures.Record(files, "pkg-1.0.dist-info/RECORD")
	b.SetBytes(int64(len(rec)))
	for i := 0; i < b.N; i++ {
		if _, err := wheel.ParseRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
}
