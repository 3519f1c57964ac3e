package resolver

import "testing"

// FuzzParseMarker: a marker that parses prints to text that parses to the
// same text and evaluates the same, in an environment with and without
// extras.
func FuzzParseMarker(f *testing.F) {
	for _, s := range []string{
		`python_version < "3.11" and (sys_platform == "linux" or extra == "dev")`,
		`os_name == "posix"`,
		`"linux" in sys_platform`,
		`platform_release not in "5.10"`,
		`python_full_version >= '3.8.1' or implementation_name=="cpython"`,
		`extra == "Dev_Tools"`,
		`(((python_version>"3")))`,
	} {
		f.Add(s)
	}
	env := MarkerEnv{Vars: map[string]string{
		"python_version": "3.12", "python_full_version": "3.12.1", "os_name": "posix", "sys_platform": "linux",
		"platform_release": "5.10.0", "implementation_name": "cpython", "platform_machine": "x86_64",
	}, Extras: []string{"dev-tools"}}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMarker(s)
		if err != nil {
			return
		}
		text := m.String()
		back, err := ParseMarker(text)
		if err != nil {
			t.Fatalf("ParseMarker(%q) printed %q, which does not parse: %v", s, text, err)
		}
		if again := back.String(); again != text {
			t.Fatalf("ParseMarker(%q): %q then %q", s, text, again)
		}
		for _, e := range []MarkerEnv{env, {Vars: env.Vars}} {
			if m.Evaluate(e) != back.Evaluate(e) {
				t.Fatalf("%q and its text %q evaluate differently", s, text)
			}
		}
	})
}
