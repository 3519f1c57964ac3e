package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
)

// TestMessages drives forge the way issue 17 saw each message, and checks
// the message now says what happened (and no error kind's bare text).
func TestMessages(t *testing.T) {
	s := newLayeredCLI(t) // app on base, six in GLOBAL/3.12
	whl := func(w fixtures.Wheel) string { return fixtures.WriteWheel(t, s.wheels, w) }
	dots := fixtures.PurePackage("dots", "1.0")
	dots.EntryPoints = map[string]map[string]string{"console_scripts": {"..": "dots:main"}}
	long := fixtures.PurePackage("longep", "1.0")
	long.EntryPoints = map[string]map[string]string{"console_scripts": {"x": strings.Repeat("a", 200<<10) + ":main"}}
	junk := filepath.Join(s.wheels, "junk-1.0-py3-none-any.whl")
	if err := os.WriteFile(junk, []byte("not a zip\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var tampered fixtures.Hostile
	for _, h := range fixtures.HostileWheels() {
		if h.Want == fixtures.WantHashMismatch {
			tampered = h
		}
	}
	tamperedPath := filepath.Join(s.wheels, tampered.Filename)
	if err := os.WriteFile(tamperedPath, tampered.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	loop := filepath.Join(t.TempDir(), "loop")
	if err := os.Symlink(loop+"2", loop); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(loop, loop+"2"); err != nil {
		t.Fatal(err)
	}
	yaml54, yaml60 := whl(fixtures.PurePackage("PyYAML", "5.4")), whl(fixtures.PurePackage("PyYAML", "6.0"))
	cp312 := fixtures.PurePackage("newpy", "1.0")
	cp312.Tag = "cp312-cp312-manylinux_2_17_x86_64"
	cp311m := fixtures.PurePackage("oldabi", "1.0")
	cp311m.Tag = "cp311-cp311m-manylinux_2_17_x86_64"
	a100, err := filepath.Abs("../../fixtures/profiles/a100-driver535.json")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // substrings of stdout
		stderr []string // substrings of stderr
		notOut []string // substrings stdout and stderr must not have
	}{
		{name: "env rm of a parent", args: []string{"env", "rm", "base"}, code: exitError,
			stderr: []string{"environment base has child environments app: remove them first (forge env rm app)"},
			notOut: []string{"already exists"}},
		{name: "invalid wheel said once", args: []string{"abi", "check", junk}, code: exitError,
			stderr: []string{"junk-1.0-py3-none-any.whl: not a zip archive", "invalid wheel"},
			notOut: []string{"invalid wheel (invalid wheel)"}},
		{name: "install of a missing file", args: []string{"install", "--env", "app", "nope.whl"}, code: exitError,
			stderr: []string{"wheel nope.whl: no such file or directory"}, notOut: []string{"want name-version"}},
		{name: "entry point named ..", args: []string{"install", "--env", "app", whl(dots)}, code: exitError,
			stdout: []string{"not installed dots 1.0"},
			stderr: []string{`console_scripts entry point "..": not a file name`}, notOut: []string{"already provided"}},
		{name: "200 KiB entry_points line", args: []string{"install", "--env", "app", whl(long)}, code: exitError,
			stderr: []string{"entry_points.txt of longep-1.0.dist-info: a line is longer than 64 KiB"},
			notOut: []string{"bufio", "token too long"}},
		{name: "two versions of one package", args: []string{"install", "--env", "app", yaml54, yaml60}, code: exitUsage,
			stderr: []string{"PyYAML is given twice", "PyYAML-5.4-py3-none-any.whl (5.4)", "PyYAML-6.0-py3-none-any.whl (6.0)"},
			notOut: []string{"installed", ": usage"}},
		{name: "one version twice is one install", args: []string{"install", "--env", "app", yaml54, yaml54}, code: exitOK,
			stdout: []string{"installed PyYAML 5.4"}},
		{name: "replacing names what it replaced", args: []string{"install", "--env", "app", yaml60}, code: exitOK,
			stdout: []string{"installed PyYAML 6.0", "note: replaced PyYAML 5.4 (entry "}},
		{name: "uninstall --global names GLOBAL and its Python", args: []string{"uninstall", "--env", "app", "--global", "six"}, code: exitOK,
			stdout: []string{"removed six 1.16.0 from GLOBAL (Python 3.12)"}, notOut: []string{"from app"}},
		{name: "uninstall LOCAL", args: []string{"uninstall", "--env", "app", "colorama"}, code: exitOK,
			stdout: []string{"removed colorama 0.4.6 from app (LOCAL layer)"}},
		{name: "abi check verifies RECORD", args: []string{"abi", "check", tamperedPath}, code: exitIntegrity,
			stderr: []string{tampered.Filename, "hash mismatch"}, notOut: []string{"accept"}},
		{name: "host named with one space", args: []string{"abi", "check", "--host-profile", a100, whl(cp312)}, code: exitRefused,
			stdout: []string{"no wheel tag is supported by host a100-driver535 (cp311 ", "interpreter cp312 not supported"},
			notOut: []string{"host  ("}},
		{name: "ABI tag names both ABIs", args: []string{"abi", "check", "--host-profile", a100, whl(cp311m)}, code: exitRefused,
			stdout: []string{"ABI cp311m not supported (the host takes cp311 only with ABI cp311"},
			notOut: []string{"ABI cp311 not supported for cp311"}},
		{name: "--gpu cu999 is a usage error", args: []string{"install", "--env", "app", "--gpu", "cu999", "numpy==2.0.0"}, code: exitUsage,
			stderr: []string{`--gpu "cu999": want auto, cpu or cuXYZ`, "forge knows CUDA up to"}},
		{name: "--gpu rocm is a usage error", args: []string{"install", "--env", "app", "--gpu", "rocm", "numpy==2.0.0"}, code: exitUsage,
			stderr: []string{`--gpu "rocm": want auto, cpu or cuXYZ`}},
		{name: "env test makes a child of the project", args: []string{"env", "test", "app", "--without-pip", yaml54}, code: exitOK,
			stdout: []string{"created app-test (Python 3.12", "layered on app", "installed PyYAML 5.4  [LOCAL", "forge run --env app-test -- python -m pytest"}},
		{name: "env rm of a project with a test env says how to change it", args: []string{"env", "rm", "app"}, code: exitError,
			stderr: []string{"remove them first (forge env rm app-test), or change app in place (forge install / forge uninstall --env app)"}},
		{name: "env test of the project itself", args: []string{"env", "test", "app", "--name", "app"}, code: exitUsage,
			stderr: []string{"the test environment cannot be app itself"}, notOut: []string{": usage"}},
		{name: "--home on a symlink loop", args: []string{"--home", loop, "envs"}, code: exitError,
			stderr: []string{"too many levels of symbolic links"}, notOut: []string{"file exists"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := tt.args
			if args[0] != "--home" {
				args = append([]string{"--home", s.home}, args...)
			}
			code := Main(args, &out, &errOut)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q", w)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			for _, w := range tt.notOut {
				if strings.Contains(out.String()+errOut.String(), w) {
					t.Errorf("output has %q", w)
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
			}
		})
	}
}

// TestWarnedUnderQuiet: a warn verdict exits 0; under --quiet doctor --abi
// it still leaves its summary line on stderr, and under strict_abi the
// same package is refused and printed as refused, never as installed.
func TestWarnedUnderQuiet(t *testing.T) {
	exe, err := probe.FindPython("3.11")
	if err != nil {
		t.Skipf("no Python 3.11: %v", err)
	}
	dir := t.TempDir()
	wheels := abiCLIWheels(t, dir, "cuda") // cp311, GPU code: warn (no_gpu) on a host without a GPU
	profile := filepath.Join(t.TempDir(), "nogpu.json")
	b, err := fixtures.ProfileJSON("nogpu-glibc228")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(profile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	run := forgeRunner(home)
	if out, errOut, code := run("create", "gpu", "--python", exe, "--without-pip"); code != 0 {
		t.Fatalf("create: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := run("install", "--env", "gpu", "--host-profile", profile, "--abi-policy", "strict_abi", wheels["cuda"])
	if code != exitRefused || !strings.Contains(out, "refused   cudapkg 1.0") || strings.Contains(out, "installed cudapkg") {
		t.Errorf("strict_abi install: exit %d, want %d, printed as refused only\n%s%s", code, exitRefused, out, errOut)
	}
	if out, errOut, code := run("install", "--env", "gpu", "--host-profile", profile, wheels["cuda"]); code != 0 || !strings.Contains(out, "abi: warn") {
		t.Fatalf("warn_abi install: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run("--quiet", "doctor", "--abi", "--host-profile", profile)
	if code != 0 || out != "" {
		t.Errorf("--quiet doctor --abi: exit %d, stdout %q", code, out)
	}
	if want := "forge doctor: 1 package(s) checked in 1 environment(s): 0 accepted, 1 warned, 0 refused\n"; errOut != want {
		t.Errorf("--quiet doctor --abi stderr %q, want %q", errOut, want)
	}
	if _, errOut, code := run("--quiet", "doctor", "--abi", "--host-profile", profile, "--enforce"); code != exitRefused || !strings.Contains(errOut, "1 warned") {
		t.Errorf("--quiet doctor --abi --enforce: exit %d, stderr %q", code, errOut)
	}
}

// TestProbeNarrowsOverriddenGPUs: CUDA_VISIBLE_DEVICES applies to the
// devices FORGE_OVERRIDE_GPUS stands for.
func TestProbeNarrowsOverriddenGPUs(t *testing.T) {
	t.Setenv("FORGE_OVERRIDE_GPUS", "8.0,7.0")
	t.Setenv("CUDA_VISIBLE_DEVICES", "0")
	var out, errOut bytes.Buffer
	if code := Main([]string{"--home", t.TempDir(), "probe"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "1 visible GPU(s)") || strings.Contains(out.String(), "sm 7.0") ||
		!strings.Contains(out.String(), "  gpu 0: override, sm 8.0, memory unknown\n") {
		t.Errorf("probe with CUDA_VISIBLE_DEVICES=0 of two overridden GPUs:\n%s", out.String())
	}
}
