package wheel_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/forge-ml/forge/wheel"
)

func TestBadScriptName(t *testing.T) {
	tests := []struct {
		name string
		bad  bool
	}{
		{"black", false}, {"pip3.12", false}, {"my-tool", false}, {".hidden", false},
		{".", true}, {"..", true}, {"a/b", true}, {`a\b`, true}, {"bell\a", true}, {"nul\x00", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if why := wheel.BadScriptName(tt.name); (why != "") != tt.bad {
				t.Errorf("BadScriptName(%q) = %q, want bad=%v", tt.name, why, tt.bad)
			}
		})
	}
}

func TestParseScripts(t *testing.T) {
	const file = `# generated
[console_scripts]
black = black:patched_main
tool=pkg.cli : main.run [extra]

[gui_scripts]
viewer = pkg.gui:main

[pytest11]
plugin = not a script line at all
`
	tests := []struct {
		name, in string
		want     []wheel.EntryPoint
		err      string // a word of the error; "" = accepted
	}{
		{"scripts, other groups skipped", file, []wheel.EntryPoint{
			{Group: "console_scripts", Name: "black", Module: "black", Attr: "patched_main"},
			{Group: "console_scripts", Name: "tool", Module: "pkg.cli", Attr: "main.run"},
			{Group: "gui_scripts", Name: "viewer", Module: "pkg.gui", Attr: "main"},
		}, ""},
		{"none", "[other]\nx = y:z\n", nil, ""},
		{"module without attribute", "[console_scripts]\nx = pkg\n", nil, "invalid entry point"},
		{"no equals", "[console_scripts]\nx\n", nil, "invalid entry point"},
		{"empty name", "[console_scripts]\n = pkg:main\n", nil, "invalid entry point"},
		{"path in name", "[gui_scripts]\n../x = pkg:main\n", nil, "gui_scripts entry point \"../x\": a script name cannot contain a path separator"},
		{"line too long", "[console_scripts]\nx = pkg:" + strings.Repeat("a", 70<<10) + "\n", nil, "longer than 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wheel.ParseScripts([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("= %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestScriptNames: the lenient reading lists the names of valid lines,
// and those of lines ParseScripts refuses, as long as they name a plain
// file.
func TestScriptNames(t *testing.T) {
	in := "[console_scripts]\nok = pkg:main\nbroken = pkg\nno-equals\nsub/dir = pkg:main\n[gui_scripts]\ng = pkg:gui\n[other]\nx = y:z\n"
	got := wheel.ScriptNames([]byte(in))
	if want := []string{"ok", "broken", "g"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ScriptNames = %q, want %q", got, want)
	}
}

// FuzzParseScripts: every script ParseScripts accepts has a name
// BadScriptName accepts, a module and an attribute, and ScriptNames lists
// the same names for the same file.
func FuzzParseScripts(f *testing.F) {
	f.Add([]byte("[console_scripts]\nblack = black:patched_main\n[gui_scripts]\nv = a.b:c.d [x]\n"))
	f.Add([]byte("[console_scripts]\n.. = a:b\n"))
	f.Add([]byte("[x]\n[console_scripts\n=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		eps, err := wheel.ParseScripts(data)
		if err != nil {
			return
		}
		var names []string
		for _, ep := range eps {
			if ep.Name == "" || ep.Module == "" || ep.Attr == "" || wheel.BadScriptName(ep.Name) != "" {
				t.Fatalf("accepted %+v", ep)
			}
			names = append(names, ep.Name)
		}
		if got := wheel.ScriptNames(data); !reflect.DeepEqual(got, names) {
			t.Fatalf("ScriptNames = %q, ParseScripts names %q", got, names)
		}
	})
}
