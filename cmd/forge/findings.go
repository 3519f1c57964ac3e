package main

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/forge-ml/forge/abi"
)

// printFindings writes one line per finding under indent. Without
// verbose, info findings are left out and findings that say the same
// thing about different files of one wheel (torch has a dozen libraries
// with the same PTX-only kernel set) are folded into one line that names
// the first file and counts the rest; --verbose and --json give each.
func printFindings(w io.Writer, indent string, fs []abi.Finding, verbose bool) {
	type group struct {
		first abi.Finding
		files []string
	}
	var order []string
	groups := map[string]*group{}
	for _, f := range fs {
		if f.Severity == abi.Info && !verbose {
			continue
		}
		key := string(f.Severity) + "\x00" + f.Code + "\x00" + f.Message
		if !verbose && f.File != "" && strings.Contains(f.Message, f.File) {
			key = string(f.Severity) + "\x00" + f.Code + "\x00" + strings.ReplaceAll(f.Message, f.File, "\x01")
		}
		g, ok := groups[key]
		if !ok {
			g = &group{first: f}
			groups[key] = g
			order = append(order, key)
		}
		g.files = append(g.files, f.File)
	}
	for _, k := range order {
		g := groups[k]
		line := g.first.Message
		if n := len(g.files) - 1; n > 0 {
			var more []string
			for _, f := range g.files[1:min(len(g.files), 4)] {
				more = append(more, path.Base(f))
			}
			extra := ""
			if n > 3 {
				extra = fmt.Sprintf(" and %d more", n-3)
			}
			line += fmt.Sprintf(" (also %s%s)", strings.Join(more, ", "), extra)
		}
		fmt.Fprintf(w, "%s%s %s: %s\n", indent, g.first.Severity, g.first.Code, line)
	}
}
