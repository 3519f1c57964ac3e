// Package progress is how long work in the core (ingesting wheels, linking
// packages) tells whoever started it how far it has got, without the core
// knowing how, or whether, that is shown. store and workspace report through
// the Reporter in their context (From); cmd/forge renders it on a terminal.
// The model is net/http/httptrace: optional observation rides on the
// context, so no signature of the core changes and a caller that does not
// ask pays one context lookup.
package progress

import (
	"context"
	"io"
)

// Unit is what a Task counts.
type Unit int

const (
	Bytes Unit = iota // a Task's total and Add are byte counts
	Items             // a Task's total and Add count things (packages, files)
)

// Reporter receives the progress of one command. Every method is safe for
// concurrent use: wheels are unpacked in parallel.
type Reporter interface {
	// Phase marks the start of a step of the command (resolve, ingest,
	// link...); the returned Step's Done ends it. Phases may overlap (the
	// host is probed while wheels are unpacked).
	Phase(name string) Step
	// Task starts one measurable piece of work within a phase, such as
	// unpacking one wheel: verb says what is being done ("unpacking"),
	// name to what ("torch-2.6.0"), total how much there is in unit
	// (0: not known). Its Done must be called, on error paths too.
	Task(verb, name string, total int64, unit Unit) Task
}

// Step is a running phase.
type Step interface {
	// Done ends the phase; summary says what it covered ("2 wheels,
	// 1.3 GB"), or is empty. Calls after the first do nothing.
	Done(summary string)
}

// Task is a running piece of work.
type Task interface {
	// Add records n more units done. Safe for concurrent use.
	Add(n int64)
	// Done ends the task, finished or not. Calls after the first do nothing.
	Done()
}

type key struct{}

// With returns ctx carrying r; a nil r leaves ctx as it is.
func With(ctx context.Context, r Reporter) context.Context {
	if r == nil {
		return ctx
	}
	return context.WithValue(ctx, key{}, r)
}

// From is the Reporter of ctx, or one that discards everything: never nil.
func From(ctx context.Context) Reporter {
	if r, ok := ctx.Value(key{}).(Reporter); ok {
		return r
	}
	return nop{}
}

type (
	nop     struct{}
	nopStep struct{}
	nopTask struct{}
)

func (nop) Phase(string) Step                     { return nopStep{} }
func (nop) Task(string, string, int64, Unit) Task { return nopTask{} }
func (nopStep) Done(string)                       {}
func (nopTask) Add(int64)                         {}
func (nopTask) Done()                             {}

// readerAt counts the bytes read through an io.ReaderAt.
type readerAt struct {
	r io.ReaderAt
	t Task
}

// ReaderAt returns r, whose reads add their byte counts to t. Concurrent
// ReadAt calls are as safe as they are on r.
func ReaderAt(r io.ReaderAt, t Task) io.ReaderAt {
	if _, ok := t.(nopTask); ok {
		return r
	}
	return readerAt{r, t}
}

func (c readerAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	if n > 0 {
		c.t.Add(int64(n))
	}
	return n, err
}
