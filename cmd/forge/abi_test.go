package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
)

// abiCLIWheels writes the wheels of fixtures.ABISet named by which (all
// of them when none is) into dir and returns their paths by short name.
func abiCLIWheels(t *testing.T, dir string, which ...string) map[string]string {
	t.Helper()
	if !fixtures.HaveGCC() {
		t.Skip("gcc/objcopy not on PATH: cannot build the ELF members")
	}
	all, err := fixtures.ABISet(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(which) == 0 {
		which = []string{"pure", "glibc", "cuda", "cp312"}
	}
	out := map[string]string{}
	for _, k := range which {
		out[k] = fixtures.WriteWheel(t, dir, all[k])
	}
	return out
}

// abiFleet writes the fleet's host profiles into a directory and returns it.
func abiFleet(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := fixtures.WriteProfiles(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// abiVerdicts maps host -> verdict and host -> codes of one wheel of a
// `forge abi check --json` document, checking the shape on the way.
func abiVerdicts(t *testing.T, wheel map[string]any) (map[string]string, map[string][]string) {
	t.Helper()
	jsonKeys(t, "abi check wheel", wheel, map[string]string{"name": "string", "version": "string", "tags": "array", "requires": "object", "verdicts": "array"})
	req, _ := wheel["requires"].(map[string]any)
	jsonKeys(t, "abi check requires", req, map[string]string{"name": "string", "version": "string", "tags": "array", "files": "number"})
	verdicts := map[string]string{}
	codes := map[string][]string{}
	vs, _ := wheel["verdicts"].([]any)
	for _, x := range vs {
		v, _ := x.(map[string]any)
		jsonKeys(t, "abi check verdict", v, map[string]string{"host": "string", "policy": "string", "verdict": "string", "findings": "array"})
		host, _ := v["host"].(string)
		verdicts[host], _ = v["verdict"].(string)
		codes[host] = []string{}
		fs, _ := v["findings"].([]any)
		for _, y := range fs {
			f, _ := y.(map[string]any)
			jsonKeys(t, "abi check finding", f, map[string]string{"code": "string", "severity": "string", "message": "string"})
			c, _ := f["code"].(string)
			if !slices.Contains(codes[host], c) {
				codes[host] = append(codes[host], c)
			}
		}
	}
	return verdicts, codes
}

func TestABICheckCLI(t *testing.T) {
	wheels := abiCLIWheels(t, t.TempDir())
	fleet := abiFleet(t)
	prof := func(n string) string { return filepath.Join(fleet, n+".json") }
	home := t.TempDir()
	run := forgeRunner(home)
	tests := []struct {
		name   string
		args   []string
		code   int
		hosts  map[string]abi.Outcome // host -> verdict
		codes  map[string][]string    // host -> finding codes
		policy string
	}{
		{name: "pure wheel accepted everywhere", args: []string{wheels["pure"], "--host-profile", fleet}, code: exitOK,
			hosts: func() map[string]abi.Outcome {
				m := map[string]abi.Outcome{}
				for _, n := range fixtures.ProfileNames() {
					m[n] = abi.Accept
				}
				return m
			}()},
		{name: "GLIBC_2.34 refused on glibc 2.17 and 2.28", args: []string{wheels["glibc"], "--host-profile", prof("nogpu-glibc217"), "--host-profile", prof("nogpu-glibc228") + "," + prof("h100-driver550")},
			code:  exitRefused,
			hosts: map[string]abi.Outcome{"nogpu-glibc217": abi.Refuse, "nogpu-glibc228": abi.Refuse, "h100-driver550": abi.Accept},
			codes: map[string][]string{"nogpu-glibc217": {abi.CodeTagUnsupported, abi.CodeGlibcFloor}, "nogpu-glibc228": {abi.CodeTagUnsupported, abi.CodeGlibcFloor}, "h100-driver550": {}}},
		{name: "CUDA 12 across the fleet", args: []string{wheels["cuda"], "--host-profile", fleet}, code: exitRefused,
			hosts: map[string]abi.Outcome{"v100-driver470": abi.Refuse, "a100-driver535": abi.Accept, "v100-a100-driver535": abi.Warn, "nogpu-glibc217": abi.Warn, "rtx4090-driver560": abi.Accept},
			codes: map[string][]string{"v100-driver470": {abi.CodeCUDADriver, abi.CodeGPUArch}, "a100-driver535": {}, "v100-a100-driver535": {abi.CodeGPUArch}, "nogpu-glibc217": {abi.CodeNoGPU}}},
		{name: "a warning alone exits 0", args: []string{wheels["cuda"], "--host-profile", prof("a100-driver535"), "--host-profile", prof("v100-a100-driver535")}, code: exitOK,
			hosts: map[string]abi.Outcome{"a100-driver535": abi.Accept, "v100-a100-driver535": abi.Warn}},
		{name: "enforce: a warning exits 3", args: []string{wheels["cuda"], "--host-profile", prof("v100-a100-driver535"), "--enforce"}, code: exitRefused,
			hosts: map[string]abi.Outcome{"v100-a100-driver535": abi.Warn}},
		{name: "strict policy refuses the risk", args: []string{wheels["cuda"], "--host-profile", prof("v100-a100-driver535"), "--abi-policy", "strict_abi"}, code: exitRefused,
			hosts: map[string]abi.Outcome{"v100-a100-driver535": abi.Refuse}, policy: "strict_abi"},
		{name: "allow policy warns on incompatible", args: []string{wheels["cuda"], "--host-profile", prof("v100-driver470"), "--abi-policy", "allow_abi"}, code: exitOK,
			hosts: map[string]abi.Outcome{"v100-driver470": abi.Warn}, policy: "allow_abi"},
		{name: "cp312 wheel on the cp311 fleet", args: []string{wheels["cp312"], "--host-profile", prof("a100-driver535")}, code: exitRefused,
			hosts: map[string]abi.Outcome{"a100-driver535": abi.Refuse}, codes: map[string][]string{"a100-driver535": {abi.CodeTagUnsupported}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(append([]string{"abi", "check", "--json"}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
			}
			jsonKeys(t, "abi check", doc, map[string]string{"policy": "string", "hosts": "array", "wheels": "array", "summary": "object"})
			ws, _ := doc["wheels"].([]any)
			if len(ws) != 1 {
				t.Fatalf("wheels %v", ws)
			}
			verdicts, codes := abiVerdicts(t, ws[0].(map[string]any))
			for h, want := range tt.hosts {
				if verdicts[h] != string(want) {
					t.Errorf("%s: verdict %q, want %q (codes %v)", h, verdicts[h], want, codes[h])
				}
			}
			for h, want := range tt.codes {
				if !slices.Equal(codes[h], want) {
					t.Errorf("%s: codes %v, want %v", h, codes[h], want)
				}
			}
			wantPolicy := tt.policy
			if wantPolicy == "" {
				wantPolicy = "warn_abi"
			}
			if doc["policy"] != wantPolicy {
				t.Errorf("policy %v, want %s", doc["policy"], wantPolicy)
			}
		})
	}

	t.Run("text", func(t *testing.T) {
		out, errOut, code := run("abi", "check", wheels["cuda"], "--host-profile", prof("a100-driver535")+","+prof("v100-driver470")+","+prof("v100-a100-driver535")+","+prof("nogpu-glibc217"))
		if code != exitRefused {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		checkGolden(t, "abi", "check_cuda.txt", out)
		if !strings.Contains(errOut, "refuse") {
			t.Errorf("stderr does not say why it exits 3: %q", errOut)
		}
	})

	t.Run("store entries by name", func(t *testing.T) {
		if out, errOut, code := run("abi", "check", "cudapkg", "--host-profile", fleet); code != exitError {
			t.Fatalf("not yet in the store: exit %d, want 1\n%s%s", code, out, errOut)
		}
		if _, err := probe.FindPython("3.12"); err != nil {
			t.Skipf("no Python 3.12 to create an environment with: %v", err)
		}
		for _, args := range [][]string{
			{"create", "app", "--python", "3.12", "--without-pip"},
			{"install", "--env", "app", "--abi-policy", "allow_abi", wheels["cuda"]},
		} {
			if out, errOut, code := run(args...); code != exitOK {
				t.Fatalf("forge %v: exit %d\n%s%s", args, code, out, errOut)
			}
		}
		out, errOut, code := run("abi", "check", "--json", "cudapkg==1.0", "--host-profile", prof("a100-driver535"))
		if code != exitOK {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		var doc struct {
			Wheels []map[string]any `json:"wheels"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Wheels) != 1 {
			t.Fatalf("%v: %s", err, out)
		}
		if e, _ := doc.Wheels[0]["entry"].(string); len(e) != 64 {
			t.Errorf("entry %q, want the store entry's sha256", e)
		}
		if v, _ := abiVerdicts(t, doc.Wheels[0]); v["a100-driver535"] != string(abi.Accept) {
			t.Errorf("verdicts %v", v)
		}
	})

	damaged := filepath.Join(t.TempDir(), filepath.Base(wheels["cuda"]))
	b, _ := os.ReadFile(wheels["cuda"])
	os.WriteFile(damaged, b[:len(b)/2], 0o644)
	errTests := []struct {
		name string
		args []string
		code int
	}{
		{"no argument", []string{"abi", "check"}, exitUsage},
		{"no subcommand", []string{"abi"}, exitUsage},
		{"bad policy", []string{"abi", "check", wheels["pure"], "--host-profile", fleet, "--abi-policy", "lenient"}, exitUsage},
		{"missing profile", []string{"abi", "check", wheels["pure"], "--host-profile", prof("nope")}, exitUsage},
		{"python with profile", []string{"abi", "check", wheels["pure"], "--host-profile", fleet, "--python", "3.12"}, exitUsage},
		{"a specifier", []string{"abi", "check", "purepkg>=1", "--host-profile", fleet}, exitUsage},
		{"unknown package", []string{"abi", "check", "nosuchpkg", "--host-profile", fleet}, exitError},
		{"damaged wheel", []string{"abi", "check", damaged, "--host-profile", fleet}, exitIntegrity},
		{"missing wheel file", []string{"abi", "check", filepath.Join(t.TempDir(), "gone-1.0-py3-none-any.whl"), "--host-profile", fleet}, exitError},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(append(tt.args, "--json")...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Errorf("--json error is not one JSON document: %v\n%s", err, out)
			}
		})
	}
}

func TestABIMatrixCLI(t *testing.T) {
	dir := t.TempDir()
	wheels := abiCLIWheels(t, dir, "pure", "glibc", "cuda")
	fleet := abiFleet(t)
	home := t.TempDir()
	run := forgeRunner(home)

	t.Run("text golden", func(t *testing.T) {
		out, errOut, code := run("abi", "matrix", "--wheels", dir, "--profiles", fleet)
		if code != exitRefused {
			t.Fatalf("exit %d, want 3\n%s%s", code, out, errOut)
		}
		checkGolden(t, "abi", "matrix_wheels.txt", strings.ReplaceAll(out, dir, "$WHEELS"))
	})

	t.Run("json and junit", func(t *testing.T) {
		junit := filepath.Join(t.TempDir(), "abi.xml")
		out, errOut, code := run("abi", "matrix", "--json", "--wheels", dir, "--profiles", fleet, "--junit", junit)
		if code != exitRefused {
			t.Fatalf("exit %d, want 3\n%s%s", code, out, errOut)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
		}
		jsonKeys(t, "abi matrix", doc, map[string]string{"profiles": "array", "rows": "array", "summary": "object", "policy": "string"})
		sum, _ := doc["summary"].(map[string]any)
		jsonKeys(t, "abi matrix summary", sum, map[string]string{"accept": "number", "warn": "number", "refuse": "number"})
		profiles, _ := doc["profiles"].([]any)
		if len(profiles) != len(fixtures.ProfileNames()) {
			t.Errorf("profiles %v", profiles)
		}
		rows, _ := doc["rows"].([]any)
		if len(rows) != 3 {
			t.Fatalf("rows %v", rows)
		}
		refused := 0
		for _, r := range rows {
			row, _ := r.(map[string]any)
			jsonKeys(t, "abi matrix row", row, map[string]string{"name": "string", "version": "string", "cells": "array"})
			cells, _ := row["cells"].([]any)
			if len(cells) != len(profiles) {
				t.Errorf("%v: %d cells for %d profiles", row["name"], len(cells), len(profiles))
			}
			for i, c := range cells {
				cell, _ := c.(map[string]any)
				jsonKeys(t, "abi matrix cell", cell, map[string]string{"host": "string", "verdict": "string", "codes": "array"})
				if cell["host"] != profiles[i] {
					t.Errorf("cell %d is for %v, column %v", i, cell["host"], profiles[i])
				}
				if cell["verdict"] == string(abi.Refuse) {
					refused++
				}
			}
		}
		if sum["refuse"] != float64(refused) || refused != 19 {
			t.Errorf("summary %v, %d refused cells (want 19: 11 on the cp311 hosts, cudapkg and glibcpkg (cp311) on the 4 others)", sum, refused)
		}

		data, err := os.ReadFile(junit)
		if err != nil {
			t.Fatal(err)
		}
		var suites struct {
			Failures int `xml:"failures,attr"`
			Suites   []struct {
				Name     string `xml:"name,attr"`
				Failures int    `xml:"failures,attr"`
				Cases    []struct {
					Name    string `xml:"name,attr"`
					Failure *struct {
						Text string `xml:",chardata"`
					} `xml:"failure"`
					SystemOut string `xml:"system-out"`
				} `xml:"testcase"`
			} `xml:"testsuite"`
		}
		if err := xml.Unmarshal(data, &suites); err != nil {
			t.Fatalf("--junit is not XML: %v\n%s", err, data)
		}
		failures, outs := 0, 0
		for _, s := range suites.Suites {
			if len(s.Cases) != 3 {
				t.Errorf("suite %s: %d cases", s.Name, len(s.Cases))
			}
			for _, c := range s.Cases {
				if c.Failure != nil {
					failures++
					if !strings.Contains(c.Failure.Text, "incompatible") {
						t.Errorf("%s/%s: failure without its findings: %q", s.Name, c.Name, c.Failure.Text)
					}
				}
				if strings.Contains(c.SystemOut, "warn") {
					outs++
				}
			}
		}
		if len(suites.Suites) != len(profiles) || suites.Failures != refused || failures != refused || outs != int(sum["warn"].(float64)) {
			t.Errorf("%d suites, failures attr %d, %d failure elements (want %d), %d system-out (want %v)", len(suites.Suites), suites.Failures, failures, refused, outs, sum["warn"])
		}
	})

	accepted := t.TempDir()
	abiCLIWheels(t, accepted, "pure")
	cudaOnly := t.TempDir()
	abiCLIWheels(t, cudaOnly, "cuda")
	prof := func(n string) string { return filepath.Join(fleet, n+".json") }
	codeTests := []struct {
		name string
		args []string
		code int
	}{
		{"all accepted", []string{"--wheels", accepted, "--profiles", fleet}, exitOK},
		{"warn only", []string{"--wheels", cudaOnly, "--profiles", prof("v100-a100-driver535")}, exitOK},
		{"warn with enforce", []string{"--wheels", cudaOnly, "--profiles", prof("v100-a100-driver535"), "--enforce"}, exitRefused},
		{"neither env nor wheels", []string{"--profiles", fleet}, exitUsage},
		{"both env and wheels", []string{"--env", "app", "--wheels", dir, "--profiles", fleet}, exitUsage},
		{"no profiles", []string{"--wheels", dir}, exitUsage},
		{"bad profile", []string{"--wheels", dir, "--profiles", wheels["pure"]}, exitUsage},
		{"bad policy", []string{"--wheels", dir, "--profiles", fleet, "--abi-policy", "lenient"}, exitUsage},
		{"unknown env", []string{"--env", "nosuchenv", "--profiles", fleet}, exitError},
	}
	for _, tt := range codeTests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(append([]string{"abi", "matrix"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
		})
	}

	t.Run("env", func(t *testing.T) {
		if _, err := probe.FindPython("3.12"); err != nil {
			t.Skipf("no Python 3.12 to create an environment with: %v", err)
		}
		for _, args := range [][]string{
			{"create", "app", "--python", "3.12", "--without-pip"},
			{"install", "--env", "app", "--abi-policy", "allow_abi", wheels["pure"], wheels["cuda"]},
		} {
			if out, errOut, code := run(args...); code != exitOK {
				t.Fatalf("forge %v: exit %d\n%s%s", args, code, out, errOut)
			}
		}
		out, errOut, code := run("abi", "matrix", "--json", "--env", "app", "--profiles", prof("a100-driver535")+","+prof("v100-driver470"))
		if code != exitRefused {
			t.Fatalf("exit %d, want 3\n%s%s", code, out, errOut)
		}
		var doc struct {
			Env  string `json:"env"`
			Rows []struct {
				Name  string `json:"name"`
				Entry string `json:"entry"`
				Layer string `json:"layer"`
				Cells []struct {
					Host    string      `json:"host"`
					Verdict abi.Outcome `json:"verdict"`
					Codes   []string    `json:"codes"`
				} `json:"cells"`
			} `json:"rows"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Env != "app" || len(doc.Rows) != 2 || doc.Rows[0].Name != "cudapkg" || len(doc.Rows[0].Entry) != 64 || doc.Rows[0].Layer != "LOCAL" {
			t.Fatalf("report %+v", doc)
		}
		if c := doc.Rows[0].Cells; c[0].Verdict != abi.Accept || c[1].Verdict != abi.Refuse || !slices.Contains(c[1].Codes, abi.CodeCUDADriver) {
			t.Errorf("cudapkg cells %+v", c)
		}
	})
}
