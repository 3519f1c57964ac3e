package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/forge-ml/forge/internal/progress"
	"github.com/forge-ml/forge/workspace"
)

// progressOptions decide what a command shows of its progress on stderr.
type progressOptions struct {
	Out io.Writer
	// Bars: draw progress bars (stderr is a terminal, neither --quiet nor
	// --json). Dumb: the terminal cannot move its cursor (TERM=dumb): one
	// line per finished task instead of bars.
	Bars, Dumb bool
	// Phases: print each phase's time at the end (--verbose).
	Phases bool
	// Now is the clock phases are timed with.
	Now func() time.Time
	// Width is the bars' width when Out is not a real terminal (tests).
	Width int
}

// progressFor is what app's flags and environment ask for: bars only when
// stderr is a terminal (a log file or a pipe gets none), never with --quiet
// or --json; phase times with --verbose.
func progressFor(app *App) progressOptions {
	tty := false
	if f, ok := app.Stderr.(*os.File); ok {
		tty = isatty.IsTerminal(f.Fd())
	}
	return progressOptions{
		Out:    app.Stderr,
		Bars:   tty && !app.Quiet && !app.JSON,
		Dumb:   os.Getenv("TERM") == "dumb",
		Phases: app.Verbose && !app.Quiet,
		Now:    time.Now,
	}
}

// terminalProgress renders a command's progress.Reporter with mpb.
//
// mpb, not schollz/progressbar: wheels are unpacked two or more at a time,
// and mpb draws one bar per concurrent task in one container (progressbar
// draws one bar); it writes to any io.Writer, renders nothing on a writer
// that is not a terminal unless told to, and its Wait returns once every
// bar is complete or aborted, with no goroutine left behind. Bars carry no
// colour, so NO_COLOR has nothing to remove; TERM=dumb, which cannot move
// the cursor, gets plain lines instead.
type terminalProgress struct {
	o progressOptions

	mu     sync.Mutex
	bars   *mpb.Progress // started with the first task
	open   map[*barTask]bool
	phases []*phaseTime // in order of first start; a repeated name adds up
}

type phaseTime struct {
	name    string
	took    time.Duration
	summary []string
}

func newTerminalProgress(o progressOptions) *terminalProgress {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &terminalProgress{o: o, open: map[*barTask]bool{}}
}

// Reporter is what the core reports to, or nil when nothing is shown.
func (p *terminalProgress) Reporter() progress.Reporter {
	if !p.o.Bars && !p.o.Phases {
		return nil
	}
	return p
}

// Phase implements progress.Reporter.
func (p *terminalProgress) Phase(name string) progress.Step {
	if !p.o.Phases {
		return nopStep{}
	}
	return &phaseStep{p: p, name: name, start: p.o.Now()}
}

type nopStep struct{}

func (nopStep) Done(string) {}

type phaseStep struct {
	p     *terminalProgress
	name  string
	start time.Time
	once  sync.Once
}

func (s *phaseStep) Done(summary string) {
	s.once.Do(func() {
		took := s.p.o.Now().Sub(s.start)
		s.p.mu.Lock()
		defer s.p.mu.Unlock()
		var pt *phaseTime
		for _, x := range s.p.phases {
			if x.name == s.name {
				pt = x
			}
		}
		if pt == nil {
			pt = &phaseTime{name: s.name}
			s.p.phases = append(s.p.phases, pt)
		}
		pt.took += took
		if summary != "" {
			pt.summary = append(pt.summary, summary)
		}
	})
}

// Task implements progress.Reporter.
func (p *terminalProgress) Task(verb, name string, total int64, unit progress.Unit) progress.Task {
	if !p.o.Bars {
		return nopTask{}
	}
	label := verb + " " + name
	if unit == progress.Bytes && total > 0 {
		label += " (" + workspace.HumanBytes(total) + ")"
	}
	t := &barTask{p: p, total: total, label: label}
	if p.o.Dumb {
		return t // printed as one line when done
	}
	count := decor.Percentage(decor.WC{W: 5})
	if unit == progress.Items {
		count = decor.CountersNoUnit("%d/%d", decor.WC{W: 7})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bars == nil {
		opts := []mpb.ContainerOption{mpb.WithOutput(p.o.Out), mpb.PopCompletedMode(), mpb.WithRefreshRate(100 * time.Millisecond)}
		if _, ok := p.o.Out.(*os.File); !ok {
			// A writer that is not a file (a test's buffer) is treated as
			// the terminal the options say it is.
			opts = append(opts, mpb.ForceTTY(), mpb.WithAutoRefresh(), mpb.WithWidth(max(p.o.Width, 60)))
		}
		p.bars = mpb.New(opts...)
	}
	t.bar = p.bars.AddBar(max(total, 0),
		mpb.PrependDecorators(decor.Name(label, decor.WC{C: decor.DindentRight | decor.DextraSpace | decor.DSyncWidth})),
		mpb.AppendDecorators(decor.OnComplete(count, "done")),
	)
	p.open[t] = true
	return t
}

type nopTask struct{}

func (nopTask) Add(int64) {}
func (nopTask) Done()     {}

// barTask is one bar. Reads may overshoot the declared total (archive/zip
// reads the central directory more than once), so the bar is held just
// short of complete until Done.
type barTask struct {
	p     *terminalProgress
	bar   *mpb.Bar // nil on a dumb terminal
	label string
	total int64
	n     atomic.Int64
	once  sync.Once
}

func (t *barTask) Add(n int64) {
	cur := t.n.Add(n)
	if t.bar == nil {
		return
	}
	if t.total > 0 {
		cur = min(cur, t.total-1)
	}
	t.bar.SetCurrent(cur)
}

func (t *barTask) Done() {
	t.once.Do(func() {
		if t.bar == nil {
			t.p.mu.Lock()
			fmt.Fprintf(t.p.o.Out, "%s done\n", t.label)
			t.p.mu.Unlock()
			return
		}
		if n := max(t.total, t.n.Load()); n > 0 {
			t.bar.SetTotal(n, true) // drawn full: "done"
		} else {
			t.bar.SetTotal(-1, true)
		}
		t.p.mu.Lock()
		delete(t.p.open, t)
		t.p.mu.Unlock()
	})
}

// Finish draws the last state of the bars and stops drawing, then prints
// the phase times (--verbose). A task left open (a bug) is aborted rather
// than waited for. Call it once the work is over and before the result
// is printed.
func (p *terminalProgress) Finish() {
	p.mu.Lock()
	bars := p.bars
	for t := range p.open {
		t.bar.Abort(false)
	}
	p.open = map[*barTask]bool{}
	p.mu.Unlock()
	if bars != nil {
		bars.Wait()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bars = nil
	for _, pt := range p.phases {
		line := fmt.Sprintf("phase %s %.2fs", pt.name, pt.took.Seconds())
		if len(pt.summary) > 0 {
			line += " (" + joinSummaries(pt.summary) + ")"
		}
		fmt.Fprintln(p.o.Out, line)
	}
	p.phases = nil
}

func joinSummaries(s []string) string {
	out := s[0]
	for _, x := range s[1:] {
		out += "; " + x
	}
	return out
}

// withProgress returns ctx carrying the progress reporter app's flags ask
// for, and sends ws's messages through it; the caller calls Finish once
// the work is over.
func withProgress(ctx context.Context, app *App, ws *workspace.Workspace) (context.Context, *terminalProgress) {
	p := newTerminalProgress(progressFor(app))
	if p.o.Bars && !app.Quiet {
		ws.Log = p
	}
	return progress.With(ctx, p.Reporter()), p
}

// Write prints b above the bars while they are drawn, where a message
// ("waiting for the store...") is not drawn over, else to Out.
func (p *terminalProgress) Write(b []byte) (int, error) {
	p.mu.Lock()
	bars := p.bars
	p.mu.Unlock()
	if bars != nil {
		if n, err := bars.Write(b); err == nil {
			return n, nil
		}
	}
	return p.o.Out.Write(b)
}
