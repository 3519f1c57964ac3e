package main

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/internal/progress"
)

// syncBuffer is a terminal stand-in mpb writes to from its own goroutine
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls out until it contains want (mpb draws on its own tick).
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(out.String(), want) {
			return
		}
	}
	t.Fatalf("no %q in the progress output:\n%q", want, out.String())
}

// sgrRe is a colour (Select Graphic Rendition) escape sequence.
var sgrRe = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestProgressBars(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	out := &syncBuffer{}
	p := newTerminalProgress(progressOptions{Out: out, Bars: true, Width: 100})
	r := p.Reporter()
	if r == nil {
		t.Fatal("a terminal gets no reporter")
	}
	unpack := r.Task("unpacking", "torch-2.6.0", 1<<30, progress.Bytes)
	link := r.Task("linking", "app", 4, progress.Items)
	unpack.Add(1 << 29)
	link.Add(3)
	waitFor(t, out, "unpacking torch-2.6.0 (1.0 GiB)")
	waitFor(t, out, "50 %")
	waitFor(t, out, "3/4")
	p.Write([]byte("note: a message while bars are drawn\n"))
	waitFor(t, out, "note: a message while bars are drawn")
	unpack.Add(1 << 30) // reads past the declared size: not complete until Done
	unpack.Done()
	link.Add(1)
	link.Done()
	p.Finish()
	got := out.String()
	for _, want := range []string{"unpacking torch-2.6.0 (1.0 GiB)", "linking app", "done"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress output lacks %q:\n%q", want, got)
		}
	}
	if sgrRe.MatchString(got) {
		t.Errorf("colour codes with NO_COLOR set:\n%q", got)
	}
}

func TestProgressDumbTerminal(t *testing.T) {
	var out bytes.Buffer
	p := newTerminalProgress(progressOptions{Out: &out, Bars: true, Dumb: true})
	task := p.Reporter().Task("unpacking", "numpy-2.0.0", 5<<20, progress.Bytes)
	task.Add(5 << 20)
	task.Done()
	task.Done()
	p.Finish()
	if got, want := out.String(), "unpacking numpy-2.0.0 (5.0 MiB) done\n"; got != want {
		t.Errorf("TERM=dumb output %q, want %q", got, want)
	}
}

func TestProgressPhases(t *testing.T) {
	var out bytes.Buffer
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(1500 * time.Millisecond); return clock }
	p := newTerminalProgress(progressOptions{Out: &out, Phases: true, Now: now})
	r := p.Reporter()
	r.Phase("ingest").Done("2 wheels, 1.3 GiB (2 new)")
	link := r.Phase("link")
	link.Done("2 packages")
	link.Done("again")                                    // a second Done does nothing
	r.Phase("link").Done("1 package")                     // pip links twice: one line, added up
	r.Task("unpacking", "x-1", 10, progress.Bytes).Done() // no bars asked for
	p.Finish()
	want := "phase ingest 1.50s (2 wheels, 1.3 GiB (2 new))\nphase link 3.00s (2 packages; 1 package)\n"
	if got := out.String(); got != want {
		t.Errorf("phase times:\n%s\nwant:\n%s", got, want)
	}
}

// openPty returns both ends of a new pseudo-terminal.
func openPty(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening the pty's terminal end: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestProgressFor: bars only on a terminal, and never with --quiet or
// --json; phase times with --verbose unless --quiet.
func TestProgressFor(t *testing.T) {
	_, tty := openPty(t)
	t.Setenv("TERM", "xterm")
	cases := []struct {
		name                 string
		stderr               any
		quiet, json, verbose bool
		bars, phases         bool
	}{
		{name: "terminal", stderr: tty, bars: true},
		{name: "terminal --quiet", stderr: tty, quiet: true},
		{name: "terminal --json", stderr: tty, json: true},
		{name: "terminal --verbose", stderr: tty, verbose: true, bars: true, phases: true},
		{name: "terminal --quiet --verbose", stderr: tty, quiet: true, verbose: true},
		{name: "buffer", stderr: &bytes.Buffer{}},
		{name: "buffer --verbose", stderr: &bytes.Buffer{}, verbose: true, phases: true},
		{name: "file", stderr: openNull(t)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := &App{Quiet: c.quiet, JSON: c.json, Verbose: c.verbose}
			switch w := c.stderr.(type) {
			case *os.File:
				app.Stderr = w
			case *bytes.Buffer:
				app.Stderr = w
			}
			o := progressFor(app)
			if o.Bars != c.bars || o.Phases != c.phases {
				t.Errorf("bars %v phases %v, want %v %v", o.Bars, o.Phases, c.bars, c.phases)
			}
			if p := newTerminalProgress(o); (p.Reporter() != nil) != (c.bars || c.phases) {
				t.Errorf("reporter %v with bars %v phases %v", p.Reporter(), c.bars, c.phases)
			}
		})
	}
}

func openNull(t *testing.T) *os.File {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestInstallVerbosePhases: --verbose ends an install with the time of
// each phase on stderr, and without it there are none.
func TestInstallVerbosePhases(t *testing.T) {
	s := newLayeredCLI(t)
	whl := fixtures.WriteWheel(t, s.wheels, fixtures.PurePackage("phasedemo", "1.0"))
	out, errOut, code := s.run("install", "--env", "app", "--verbose", whl)
	if code != 0 {
		t.Fatalf("install: exit %d\n%s%s", code, out, errOut)
	}
	for _, phase := range []string{"probe", "ingest", "resolve", "abi check", "link"} {
		if !regexp.MustCompile(`(?m)^phase ` + phase + ` [0-9]+\.[0-9]{2}s`).MatchString(errOut) {
			t.Errorf("no time for phase %q on stderr:\n%s", phase, errOut)
		}
	}
	if !strings.Contains(errOut, "phase ingest") || !strings.Contains(errOut, "(1 wheel, ") {
		t.Errorf("ingest phase does not say what it covered:\n%s", errOut)
	}
	if strings.Contains(out, "phase ") {
		t.Errorf("phase times on stdout:\n%s", out)
	}
	_, errOut, _ = s.run("install", "--env", "base", whl)
	if strings.Contains(errOut, "phase ") {
		t.Errorf("phase times without --verbose:\n%s", errOut)
	}
}
