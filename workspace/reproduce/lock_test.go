package reproduce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/lockfile"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

func TestLock(t *testing.T) {
	ctx := context.Background()
	ws, wheels := wstest.LockEnv(t)
	fleet := wstest.FleetDir(t)

	l, err := Lock(ctx, ws, LockOptions{Env: "app", Profiles: []string{fleet}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := ws.OpenEnv(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if l.LockVersion != "1.0" || l.CreatedBy != "forge" || l.RequiresPython != "==3.12.*" || len(l.Environments) != 1 {
		t.Fatalf("header %+v", l)
	}
	want := []struct {
		name, version, wheel, layer, glibc string
		cuda                               int
		gpu                                []string
		v100                               abi.Outcome // verdict on v100-driver470
	}{
		{"cudapkg", "1.0", wheels["cuda"], "LOCAL", "2.2.5", 12, []string{"sm_80"}, abi.Refuse},
		{"glibcpkg", "1.0", wheels["glibc"], "base", "2.34", 0, nil, abi.Refuse},
		{"purepkg", "1.0", wheels["pure"], "LOCAL", "", 0, nil, abi.Accept}, // not base's 0.9
	}
	if len(l.Packages) != len(want) {
		t.Fatalf("%d packages, want %d: %+v", len(l.Packages), len(want), l.Packages)
	}
	for i, w := range want {
		p := l.Packages[i]
		sha, size := wstest.FileSHA256(t, w.wheel)
		wh := p.Wheels[0]
		f := p.Tool.Forge
		if p.Name != w.name || p.Version != w.version || len(p.Wheels) != 1 || wh.SHA256() != sha || wh.Size != size || wh.Path != w.wheel || wh.FileName() != fileBase(w.wheel) {
			t.Errorf("package %d: %+v %+v, want %s %s from %s (sha256 %s, %d bytes)", i, p, wh, w.name, w.version, w.wheel, sha, size)
		}
		if f.Layer != w.layer || f.GlibcFloor != w.glibc || f.CUDAMajor != w.cuda || !slices.Equal(f.GPUCode, w.gpu) {
			t.Errorf("%s: forge facts %+v", w.name, f)
		}
		if len(f.Verdicts) != len(fixtures.ProfileNames()) || f.Verdicts["v100-driver470"] != w.v100 {
			t.Errorf("%s: verdicts %v", w.name, f.Verdicts)
		}
	}

	t.Run("written and read back", func(t *testing.T) {
		data, err := lockfile.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		back, err := lockfile.Parse("pylock.toml", data)
		if err != nil {
			t.Fatal(err)
		}
		// The environment's own interpreter: its marker environment holds,
		// and cudapkg, a cp311 wheel forced into a 3.12 environment under
		// allow_abi, has no wheel for it.
		target := LockTarget(e.Py)
		_, err = back.Select("pylock.toml", target)
		if !errors.Is(err, lockfile.ErrNoWheel) || !bytes.Contains([]byte(err.Error()), []byte("package cudapkg 1.0: none of its wheels fits")) {
			t.Fatalf("select: %v", err)
		}
	})

	t.Run("a wheel file gone has no path", func(t *testing.T) {
		if err := os.Remove(wheels["pure"]); err != nil {
			t.Fatal(err)
		}
		l, err := Lock(ctx, ws, LockOptions{Env: "app"})
		if err != nil {
			t.Fatal(err)
		}
		if p := l.Packages[2]; p.Name != "purepkg" || p.Wheels[0].Path != "" || p.Wheels[0].Name == "" || p.Tool.Forge.Verdicts != nil {
			t.Fatalf("purepkg: %+v %+v", p.Wheels[0], p.Tool.Forge)
		}
		if l.Packages[0].Wheels[0].Path != wheels["cuda"] {
			t.Fatalf("cudapkg lost its path: %+v", l.Packages[0].Wheels[0])
		}
	})

	t.Run("errors", func(t *testing.T) {
		if _, err := Lock(ctx, ws, LockOptions{Env: "nope"}); err == nil {
			t.Fatal("locked an environment that does not exist")
		}
		if _, err := Lock(ctx, ws, LockOptions{Env: "app", Profiles: []string{t.TempDir()}}); !errors.Is(err, workspace.ErrUsage) {
			t.Fatalf("empty profile directory: %v", err)
		}
	})
}

func fileBase(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// BenchmarkLock200 measures forge lock of an environment of 200 packages
// (150 in its own layer, 50 in its parent), with the TOML encoding and
// verdicts on two host profiles. Target: 50 ms.
func BenchmarkLock200(b *testing.B) {
	wstest.NeedPython(b, "3.12")
	ctx := context.Background()
	ws := wstest.Open(b)
	var wheels []fixtures.Wheel
	for i := 0; i < 200; i++ {
		wheels = append(wheels, fixtures.PurePackage(fmt.Sprintf("lockbench-%03d", i), "1.0"))
	}
	specs := wstest.WriteWheels(b, b.TempDir(), wheels...)
	wstest.BaseAndApp(b, ws, "", specs[:50], specs[50:])
	fleet := b.TempDir()
	if err := fixtures.WriteProfiles(fleet, "a100-driver535", "nogpu-glibc217"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l, err := Lock(ctx, ws, LockOptions{Env: "app", Profiles: []string{fleet}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := lockfile.Marshal(l); err != nil {
			b.Fatal(err)
		}
		if len(l.Packages) != 200 || l.Packages[0].Wheels[0].Path == "" {
			b.Fatalf("%d packages", len(l.Packages))
		}
	}
}
