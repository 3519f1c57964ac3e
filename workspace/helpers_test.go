package workspace

import (
	"testing"

	"github.com/forge-ml/forge/probe"
)

// needPython skips tb unless Python xy is installed, and returns its
// interpreter.
func needPython(tb testing.TB, xy string) string {
	tb.Helper()
	exe, err := probe.FindPython(xy)
	if err != nil {
		tb.Skipf("Python %s is not installed here: %v", xy, err)
	}
	return exe
}

// testWorkspace opens a workspace in a new temporary home, closed when the
// test ends.
func testWorkspace(tb testing.TB) *Workspace {
	tb.Helper()
	ws, err := Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ws.Close() })
	return ws
}
