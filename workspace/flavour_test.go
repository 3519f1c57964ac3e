package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
)

// flavourWheels builds three builds of gputorch 2.4.0 — +cu118 (CUDA 11
// runtime, cubins sm_70 and sm_80), +cu121 (CUDA 12, sm_80 and sm_90) and
// +cpu — each shipping its own libcudart stub, and returns their paths.
func flavourWheels(t *testing.T) map[string]string {
	t.Helper()
	if !fixtures.HaveGCC() {
		t.Skip("gcc not available")
	}
	out := map[string]string{}
	dir := t.TempDir()
	builds := []struct {
		flavour string
		cudart  int
		sms     []int
	}{{"cu118", 11, []int{70, 80}}, {"cu121", 12, []int{80, 90}}, {"cpu", 0, nil}}
	for _, b := range builds {
		files := []fixtures.File{{Name: "gputorch/__init__.py", Data: []byte(fmt.Sprintf("FLAVOUR = %q\n", b.flavour))}}
		if b.cudart > 0 {
			bd := t.TempDir()
			cudart := fmt.Sprintf("libcudart.so.%d", b.cudart)
			stub, err := fixtures.StubLibrary(bd, cudart)
			if err != nil {
				t.Fatal(err)
			}
			var specs []fixtures.FatbinSpec
			for _, sm := range b.sms {
				specs = append(specs, fixtures.FatbinSpec{Kind: "cubin", SM: sm})
			}
			so, err := fixtures.FatbinSO(bd, "libgputorch.so", fixtures.Fatbin(specs...), fixtures.SharedObject{Link: []string{cudart}})
			if err != nil {
				t.Fatal(err)
			}
			for name, p := range map[string]string{"gputorch/lib/libgputorch.so": so, "gputorch/lib/" + cudart: stub} {
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				files = append(files, fixtures.File{Name: name, Data: data, Mode: 0o755})
			}
		}
		w := fixtures.Wheel{Name: "gputorch", Version: "2.4.0+" + b.flavour, Tag: "py3-none-manylinux_2_17_x86_64", Files: files}
		p, err := w.WriteTo(dir)
		if err != nil {
			t.Fatal(err)
		}
		out[b.flavour] = p
	}
	return out
}

func TestInstallChoosesFlavour(t *testing.T) {
	exe := needPython(t, "3.12")
	wheels := flavourWheels(t)
	ws, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ctx := context.Background()
	for _, p := range wheels {
		if _, err := ws.Store.Ingest(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		profile, gpu string
		want         string // flavour; "" = refused
	}{
		{"a100-driver535", "auto", "cu121"},    // CUDA 12.2 driver, sm_80 covered by both: the newest CUDA wins
		{"h100-driver550", "auto", "cu121"},    // sm_90 only in cu121
		{"v100-driver470", "auto", "cu118"},    // driver tops out at CUDA 11.4; sm_70 only in cu118
		{"rtx4090-driver560", "auto", "cu121"}, // sm_89 runs sm_80 cubins
		{"nogpu-glibc228", "auto", "cpu"},
		{"a100-driver535", "cpu", "cpu"},
		{"a100-driver535", "cu118", "cu118"},
		{"v100-driver470", "cu121", ""}, // pinned, and the driver is too old
	}
	for i, tt := range tests {
		t.Run(tt.profile+"/"+tt.gpu, func(t *testing.T) {
			ws.Host = fixtures.Profile(tt.profile)
			if ws.Host == nil {
				t.Fatalf("no fixture profile %s", tt.profile)
			}
			env := fmt.Sprintf("e%d", i)
			if _, err := ws.Create(ctx, CreateOptions{Name: env, Python: exe}); err != nil {
				t.Fatal(err)
			}
			rep, err := ws.Install(ctx, InstallOptions{Env: env, Specs: []string{"gputorch==2.4.0"}, GPU: tt.gpu})
			if tt.want == "" {
				if !errors.Is(err, abi.ErrIncompatible) {
					t.Fatalf("err = %v, want a refusal", err)
				}
				if _, serr := os.Stat(filepath.Join(ws.EnvsDir(), env, "lib", "python3.12", "site-packages", "gputorch")); serr == nil {
					t.Error("refused flavour was linked")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := rep.Packages[0]
			if p.Version != "2.4.0+"+tt.want || !p.Reused || p.ReuseKind != ReuseABICompatible {
				t.Errorf("installed %s reused=%v kind=%s, want 2.4.0+%s abi_compatible", p.Version, p.Reused, p.ReuseKind, tt.want)
			}
			site := filepath.Join(ws.EnvsDir(), env, "lib", "python3.12", "site-packages")
			b, err := os.ReadFile(filepath.Join(site, "gputorch", "__init__.py"))
			if err != nil || string(b) != `FLAVOUR = "`+tt.want+`"`+"\n" {
				t.Errorf("linked gputorch says %q (%v)", b, err)
			}
		})
	}
}
