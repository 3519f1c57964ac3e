package wheel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// EntryPointsFile is the member name, in .dist-info, of a wheel's entry
// points.
const EntryPointsFile = "entry_points.txt"

// EntryPoint is one script of entry_points.txt: a line of its
// console_scripts or gui_scripts group, "name = module:attr [extras]".
type EntryPoint struct {
	Group  string // console_scripts or gui_scripts
	Name   string // the script's name: a file name in bin/
	Module string
	Attr   string // the callable, dotted from the module
}

var entryPointRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([A-Za-z_][\w.]*)\s*(?::\s*([A-Za-z_][\w.]*))?\s*(\[.*\])?\s*$`)
})

// isScriptGroup reports whether an entry_points.txt group declares scripts.
func isScriptGroup(group string) bool { return group == "console_scripts" || group == "gui_scripts" }

// scanGroups calls line for each line of an entry_points.txt that is
// neither blank, a comment nor a group header, with the group it is in. It
// stops at the first error line returns, or the scanner's.
func scanGroups(data []byte, line func(group, line string) error) error {
	group := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
			continue
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			group = strings.TrimSpace(l[1 : len(l)-1])
			continue
		}
		if err := line(group, l); err != nil {
			return err
		}
	}
	return sc.Err()
}

// ParseScripts returns the console_scripts and gui_scripts of an
// entry_points.txt, in file order; other groups are skipped. A script line
// that is not "name = module:attr [extras]" is an error, as is a name that
// cannot be a file in bin/ (BadScriptName) and a line longer than a
// bufio.Scanner takes. The errors name the line, not the file.
func ParseScripts(data []byte) ([]EntryPoint, error) {
	var out []EntryPoint
	err := scanGroups(data, func(group, line string) error {
		if !isScriptGroup(group) {
			return nil
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		m := entryPointRe().FindStringSubmatch(value)
		if !ok || name == "" || m == nil || m[2] == "" {
			return fmt.Errorf("invalid entry point %q", line)
		}
		if why := BadScriptName(name); why != "" {
			return fmt.Errorf("%s entry point %q: %s", group, name, why)
		}
		out = append(out, EntryPoint{Group: group, Name: name, Module: m[1], Attr: m[2]})
		return nil
	})
	if errors.Is(err, bufio.ErrTooLong) {
		// bufio's own words ("token too long") name neither the file nor
		// the limit.
		return nil, fmt.Errorf("a line is longer than %d KiB: not an entry point forge can link", bufio.MaxScanTokenSize>>10)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScriptNames lists the script names of an entry_points.txt's
// console_scripts and gui_scripts leniently, for reading what may be
// installed rather than deciding what to install: a line without "=", or
// whose name is empty or holds a path separator, is skipped; reading stops
// quietly at a line too long to scan.
func ScriptNames(data []byte) []string {
	var out []string
	scanGroups(data, func(group, line string) error {
		if !isScriptGroup(group) {
			return nil
		}
		if name, _, ok := strings.Cut(line, "="); ok {
			if n := strings.TrimSpace(name); n != "" && !strings.ContainsAny(n, "/\\") {
				out = append(out, n)
			}
		}
		return nil
	})
	return out
}

// BadScriptName says why name cannot be a launcher in bin/ ("" when it
// can): it is the file name written there, so it must be one plain name.
func BadScriptName(name string) string {
	switch {
	case name == "." || name == "..":
		return "not a file name (it names a directory)"
	case strings.ContainsAny(name, "/\\"):
		return "a script name cannot contain a path separator"
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "a script name cannot contain control characters"
	}
	return ""
}
