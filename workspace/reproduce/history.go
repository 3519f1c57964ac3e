package reproduce

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"

	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// HistoryDidNotFinish is the status History reports for a row still
// "running" whose process is gone: the operation was killed or crashed.
const HistoryDidNotFinish = "did_not_finish"

// HistoryReport is an environment's history, oldest first.
type HistoryReport struct {
	Env        string               `json:"env"`
	Operations []store.HistoryEntry `json:"operations"`
}

// History returns env's operations, oldest first. A row still "running"
// whose process is gone (or is this one, which is reading, not running it)
// reads did_not_finish. (A process id reused since a crash reads as still
// running until that process ends.)
func History(ctx context.Context, w *workspace.Workspace, env string) (*HistoryReport, error) {
	if _, err := w.Store.GetEnv(ctx, env); err != nil {
		return nil, err
	}
	ops, err := w.Store.History(ctx, env)
	if err != nil {
		return nil, err
	}
	for i := range ops {
		if ops[i].Status == store.HistoryRunning && !otherLiveProcess(ops[i].PID) {
			ops[i].Status = HistoryDidNotFinish
		}
	}
	return &HistoryReport{Env: env, Operations: ops}, nil
}

// otherLiveProcess reports whether pid is a running process other than this one.
func otherLiveProcess(pid int) bool {
	if pid <= 0 || pid == os.Getpid() {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// HistorySummary is one operation's changes as a line:
// "+numpy 2.1.0 -pandas 2.2.2 ~torch 2.5.0→2.6.0".
func HistorySummary(c store.HistoryChanges) string {
	var parts []string
	for _, a := range c.Added {
		parts = append(parts, "+"+a.Name+" "+a.NewVersion)
	}
	for _, r := range c.Removed {
		parts = append(parts, "-"+r.Name+" "+r.OldVersion)
	}
	for _, ch := range c.Changed {
		old, nw := ch.OldVersion, ch.NewVersion
		if old == nw && ch.OldDigest != "" && ch.NewDigest != "" {
			old, nw = old+" ("+workspace.Short(ch.OldDigest)+")", nw+" ("+workspace.Short(ch.NewDigest)+")"
		}
		if old == "" {
			old = "(unset)"
		}
		if nw == "" {
			nw = "(unset)"
		}
		parts = append(parts, "~"+ch.Name+" "+old+"→"+nw)
	}
	return strings.Join(parts, " ")
}
