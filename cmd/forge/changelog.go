package main

import (
	_ "embed"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/spf13/cobra"
)

func init() { register(newChangelogCmd) }

// changelogText is a copy of the repository's CHANGELOG.md: //go:embed
// cannot reach outside the package directory, so cmd/forge/CHANGELOG.md is
// kept byte-identical to the root file; TestChangelogCopyMatchesRoot fails
// when they differ (fix with: cp CHANGELOG.md cmd/forge/CHANGELOG.md).
//
//go:embed CHANGELOG.md
var changelogText string

// Release is one "## [version] - date" section of the changelog.
type Release struct {
	Version string   `json:"version"`
	Date    string   `json:"date"`
	Changes []string `json:"changes"`
}

// releaseHeading matches "## [1.2.0] - 2026-01-02", "## 1.2.0 (2026-01-02)"
// and "## [Unreleased]".
var releaseHeading = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^##\s+\[?([^\]\s(]+)\]?\s*(?:[-–(]\s*([0-9]{4}-[0-9]{2}-[0-9]{2})\)?)?\s*$`)
})

// parseChangelog reads Keep-a-Changelog markdown: each "## version" starts a
// release; "### Kind" headings prefix the bullet items below them ("Added:
// ..."); continuation lines join the item before them.
func parseChangelog(text string) []Release {
	out := []Release{}
	var cur *Release
	kind := ""
	inItem := false
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "## "):
			m := releaseHeading().FindStringSubmatch(line)
			if m == nil {
				cur = nil
				continue
			}
			out = append(out, Release{Version: m[1], Date: m[2], Changes: []string{}})
			cur, kind, inItem = &out[len(out)-1], "", false
		case cur == nil:
		case strings.HasPrefix(line, "### "):
			kind, inItem = strings.TrimSpace(strings.TrimPrefix(line, "### ")), false
		case strings.HasPrefix(trimmed, "- ") || strings.HasPrefix(trimmed, "* "):
			item := strings.TrimSpace(trimmed[2:])
			if kind != "" {
				item = kind + ": " + item
			}
			cur.Changes = append(cur.Changes, item)
			inItem = true
		case trimmed == "":
			inItem = false
		case inItem:
			cur.Changes[len(cur.Changes)-1] += " " + trimmed
		}
	}
	return out
}

func newChangelogCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "changelog",
		Short: "Print forge's changelog",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return app.Print(parseChangelog(changelogText), func(w io.Writer) { fmt.Fprint(w, changelogText) })
		},
	}
}
