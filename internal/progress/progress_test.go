package progress

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
)

type countTask struct{ n atomic.Int64 }

func (c *countTask) Add(n int64) { c.n.Add(n) }
func (c *countTask) Done()       {}

type oneTask struct{ t *countTask }

func (o oneTask) Phase(string) Step                     { return nopStep{} }
func (o oneTask) Task(string, string, int64, Unit) Task { return o.t }

func TestFromWithout(t *testing.T) {
	r := From(context.Background())
	if r == nil {
		t.Fatal("From without a reporter is nil")
	}
	task := r.Task("unpacking", "x-1", 10, Bytes)
	src := strings.NewReader("0123456789")
	if got := ReaderAt(src, task); got != src {
		t.Errorf("ReaderAt wraps a reader for a task nobody watches")
	}
	if With(context.Background(), nil) != context.Background() {
		t.Errorf("With(nil) made a new context")
	}
}

func TestReaderAtCounts(t *testing.T) {
	ct := &countTask{}
	ctx := With(context.Background(), oneTask{ct})
	task := From(ctx).Task("unpacking", "x-1", 10, Bytes)
	r := ReaderAt(strings.NewReader("0123456789"), task)
	buf := make([]byte, 4)
	for _, off := range []int64{0, 4, 8} {
		r.ReadAt(buf, off) // the last read is short: 2 bytes and io.EOF
	}
	if got := ct.n.Load(); got != 10 {
		t.Errorf("counted %d bytes, want 10", got)
	}
}
