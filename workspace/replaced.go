package workspace

import (
	"context"
	"fmt"
)

// replacedNote says what an install replaced in a layer: the name and
// version users know, with the entry digest (as in forge inspect) for when
// two builds of one version were swapped.
func (w *Workspace) replacedNote(ctx context.Context, entry string) string {
	short := entry
	if len(short) > 12 {
		short = short[:12]
	}
	en, err := w.Store.Get(ctx, entry)
	if err != nil {
		return "replaced entry " + short
	}
	if en.Build != "" {
		return fmt.Sprintf("replaced %s %s (build %s, entry %s)", en.Name, en.Version, en.Build, short)
	}
	return fmt.Sprintf("replaced %s %s (entry %s)", en.Name, en.Version, short)
}
