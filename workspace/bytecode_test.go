package workspace

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/forge-ml/forge/fixtures"
)

// TestReplacedPackageBytecode: two versions whose sources have the same size
// and modification time (ingested in the same second) replace each other in
// an environment and in its child; Python must run the new code, not the
// bytecode compiled from the old one.
func TestReplacedPackageBytecode(t *testing.T) {
	needPython(t, "3.12")
	ctx := context.Background()
	ws := testWorkspace(t)
	dir := t.TempDir()
	paths := map[string]string{}
	for _, v := range []string{"1.0", "2.0"} {
		p, err := fixtures.PurePackage("twin", v).WriteTo(dir)
		if err != nil {
			t.Fatal(err)
		}
		paths[v] = p
		res, err := ws.Store.Ingest(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		// The same second for both versions' sources.
		same := time.Unix(1700000000, 0)
		filepath.WalkDir(ws.Store.EntryDir(res.Entry.SHA256), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				os.Chtimes(p, same, same)
			}
			return nil
		})
	}
	parent, err := ws.Create(ctx, CreateOptions{Name: "base", Python: "3.12"})
	if err != nil {
		t.Fatal(err)
	}
	child, err := ws.Create(ctx, CreateOptions{Name: "app", Parent: "base"})
	if err != nil {
		t.Fatal(err)
	}
	version := func(e *Env) string {
		t.Helper()
		cmd := exec.Command(e.Venv.Interpreter(), "-c", "import twin; print(twin.VERSION)")
		cmd.Env = append(withoutEnv(os.Environ(), "PYTHONDONTWRITEBYTECODE"), "PYTHONDONTWRITEBYTECODE=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("import twin: %s %v", out, err)
		}
		return strings.TrimSpace(string(out))
	}
	for _, step := range []string{"1.0", "2.0", "1.0"} {
		if _, err := ws.Install(ctx, InstallOptions{Env: "base", Specs: []string{paths[step]}}); err != nil {
			t.Fatal(err)
		}
		for _, e := range []*Env{parent, child} {
			if got := version(e); got != step {
				t.Errorf("after installing %s, %s imports %s", step, e.Name, got)
			}
		}
	}
}

func withoutEnv(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
