package main

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
)

func TestParsePipInstallArgs(t *testing.T) {
	yes := true
	tests := []struct {
		name    string
		args    []string
		env     string
		policy  string
		enforce bool
		json    *bool
		home    string
		pip     []string
		usage   bool
	}{
		{name: "forge flags anywhere, pip's kept in order",
			args: []string{"-r", "req.txt", "--env", "app", "--no-index", "--find-links", "/w", "--json", "--abi-policy=strict_abi", "--enforce"},
			env:  "app", policy: "strict_abi", enforce: true, json: &yes,
			pip: []string{"-r", "req.txt", "--no-index", "--find-links", "/w"}},
		{name: "extras, markers and pip's short options pass through",
			args: []string{"webkit[dev]>=2", `tomli; python_version < "3.11"`, "-f", "/w", "-i", "https://x.invalid/simple", "--pre", "--env=app", "--home", "/h"},
			env:  "app", home: "/h",
			pip: []string{"webkit[dev]>=2", `tomli; python_version < "3.11"`, "-f", "/w", "-i", "https://x.invalid/simple", "--pre"}},
		{name: "after -- everything is pip's",
			args: []string{"--env", "app", "--", "--json", "app"},
			env:  "app", pip: []string{"--json", "app"}},
		{name: "flag without its value", args: []string{"app", "--env"}, usage: true},
		{name: "bad bool", args: []string{"--json=maybe", "app"}, usage: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parsePipInstallArgs(tc.args)
			if tc.usage {
				if exitCode(err) != exitUsage {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.env != tc.env || o.policy != tc.policy || o.enforce != tc.enforce || o.home != tc.home {
				t.Errorf("env %q policy %q enforce %v home %q", o.env, o.policy, o.enforce, o.home)
			}
			if !reflect.DeepEqual(o.json, tc.json) {
				t.Errorf("json %v, want %v", o.json, tc.json)
			}
			if !reflect.DeepEqual(o.pipArgs, tc.pip) {
				t.Errorf("pip args %q, want %q", o.pipArgs, tc.pip)
			}
		})
	}
}

var (
	pipReportShape = jsonShape{"env": "string", "host": "string", "policy": "string", "pip_ran": "bool",
		"pip_reason": "string?", "pip_command": "array?", "requested": "array", "packages": "array"}
	pipPackageShape = jsonShape{"name": "string", "version": "string", "entry": "string", "reused": "bool", "reuse_kind": "string",
		"layer": "string", "link_mode": "string", "verdict": "string", "findings": "array", "requested": "bool", "warnings": "array"}
)

// TestPipInstallCLI drives `forge pip install` through Main: text and JSON
// reports, pip's failure verbatim, usage errors and --enforce.
func TestPipInstallCLI(t *testing.T) {
	exe, err := probe.FindPython("3.12")
	if err != nil {
		t.Skipf("no Python 3.12 interpreter on this machine: %v", err)
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PIP_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("PIP_CONFIG_FILE", os.DevNull)
	t.Setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
	home, wheels := t.TempDir(), t.TempDir()
	if _, err := fixtures.Wheelhouse(wheels); err != nil {
		t.Fatal(err)
	}
	warnWheel := ""
	if fixtures.HaveGCC() {
		// A library needing a soname neither shipped nor on the host: a
		// risk, so warn under warn_abi.
		build := t.TempDir()
		if _, err := fixtures.StubLibrary(build, "libforgemissing.so.7"); err != nil {
			t.Fatal(err)
		}
		so, err := fixtures.BuildSharedObject(build, fixtures.SharedObject{Name: "libwarn.so", Link: []string{"libforgemissing.so.7"}})
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(so)
		if err != nil {
			t.Fatal(err)
		}
		w := fixtures.Wheel{Name: "warnlib", Version: "1.0", Tag: "py3-none-linux_x86_64",
			Files: []fixtures.File{{Name: "warnlib/__init__.py", Data: []byte("")}, {Name: "warnlib/libwarn.so", Data: data, Mode: 0o755}}}
		if warnWheel, err = w.WriteTo(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	run := forgeRunner(home)
	for _, env := range []string{"app", "app2", "warn", "verbose"} {
		if out, errOut, code := run("create", env, "--python", exe); code != 0 {
			t.Fatalf("create %s: exit %d\n%s%s", env, code, out, errOut)
		}
	}

	t.Run("json, pip runs", func(t *testing.T) {
		out, errOut, code := run("pip", "install", "app", "--env", "app", "--no-index", "--find-links", wheels, "--json")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("not one JSON document: %v\n%s", err, out)
		}
		checkShape(t, "report", doc, pipReportShape)
		pkgs := eachItem(t, "packages", doc["packages"], pipPackageShape)
		if doc["pip_ran"] != true || len(pkgs) != len(fixtures.WheelhouseResolution("app", 12)) {
			t.Errorf("pip_ran %v, %d packages:\n%s", doc["pip_ran"], len(pkgs), out)
		}
		for _, p := range pkgs {
			if want := p["name"] == "app"; p["requested"] != want || p["reuse_kind"] != "none" {
				t.Errorf("%s: requested %v, reuse_kind %v", p["name"], p["requested"], p["reuse_kind"])
			}
		}
	})
	t.Run("verbose: phase times", func(t *testing.T) {
		out, errOut, code := run("pip", "install", "app", "--env", "verbose", "--no-index", "--find-links", wheels, "--verbose")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		for _, phase := range []string{"probe", "resolve", "pip", "ingest", "abi check", "link"} {
			if !regexp.MustCompile(`(?m)^phase ` + phase + ` [0-9]+\.[0-9]{2}s`).MatchString(errOut) {
				t.Errorf("no time for phase %q on stderr:\n%s", phase, errOut)
			}
		}
	})
	t.Run("text, from the store", func(t *testing.T) {
		out, errOut, code := run("pip", "install", "app==1.0", "--env", "app2", "--no-index")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		want := `pip: not run (every requirement pinned and in the store)
installed app 1.0  [LOCAL, symlink, reused (exact), abi: accept]
installed corelib 1.5  [LOCAL, symlink, reused (exact), abi: accept]
installed devtool 1.0  [LOCAL, symlink, reused (exact), abi: accept]
installed fmtlib 1.2.0  [LOCAL, symlink, reused (exact), abi: accept]
installed netlib 0.6  [LOCAL, symlink, reused (exact), abi: accept]
installed webkit 2.0  [LOCAL, symlink, reused (exact), abi: accept]
`
		if out != want {
			t.Errorf("got\n%s\nwant\n%s", out, want)
		}
	})
	t.Run("pip's error verbatim, exit 1", func(t *testing.T) {
		out, errOut, code := run("pip", "install", "corelib==9.9", "--env", "app", "--no-index", "--find-links", wheels)
		if code != exitError {
			t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
		}
		if !strings.Contains(errOut, "ERROR: No matching distribution found for corelib==9.9\n") || !strings.Contains(errOut, "forge: pip failed (exit status 1)") {
			t.Errorf("stderr:\n%s", errOut)
		}
		out, _, code = run("pip", "install", "corelib==9.9", "--env", "app", "--no-index", "--find-links", wheels, "--json")
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil || code != exitError {
			t.Fatalf("exit %d, not one JSON document (%v):\n%s", code, err, out)
		}
		m := checkShape(t, "report", doc, jsonShape{"error": "string", "exit_code": "number", "pip_output": "string", "pip_ran": "bool"})
		if !strings.Contains(m["pip_output"].(string), "No matching distribution found for corelib==9.9") {
			t.Errorf("pip_output %q", m["pip_output"])
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"no --env", []string{"pip", "install", "app"}, exitUsage, ""},
		{"nothing for pip", []string{"pip", "install", "--env", "app"}, exitUsage, ""},
		{"unsupported pip option", []string{"pip", "install", "--env", "app", "--user", "app"}, exitUsage, ""},
		{"unknown environment", []string{"pip", "install", "--env", "nope", "app"}, exitError, ""},
		{"help", []string{"pip", "install", "--help"}, exitOK, `Put pip arguments that look like forge flags after "--"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
		})
	}
	t.Run("enforce", func(t *testing.T) {
		if warnWheel == "" {
			t.Skip("gcc/objcopy not on PATH: the warning library cannot be built")
		}
		out, errOut, code := run("pip", "install", warnWheel, "--env", "warn", "--no-index", "--json")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		var doc struct {
			Packages []struct {
				Verdict  string   `json:"verdict"`
				Warnings []string `json:"warnings"`
			} `json:"packages"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Packages) != 1 {
			t.Fatalf("%v\n%s", err, out)
		}
		if p := doc.Packages[0]; p.Verdict != "warn" || len(p.Warnings) == 0 || !strings.HasPrefix(p.Warnings[0], "missing_library: ") {
			t.Errorf("verdict %s, warnings %q", p.Verdict, p.Warnings)
		}
		if _, errOut, code := run("pip", "install", warnWheel, "--env", "warn", "--no-index", "--enforce"); code != exitRefused {
			t.Errorf("--enforce: exit %d, want 3\n%s", code, errOut)
		}
	})
}
