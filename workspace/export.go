package workspace

import (
	"context"
	"fmt"

	"github.com/forge-ml/forge/sbom"
	"github.com/forge-ml/forge/store"
)

// Export lists the packages an environment imports (the winning copy of
// each name, as Lock does) with what an SBOM or a hash-pinned requirements
// file needs: the wheel's sha256 and file name, the layer, and the licence
// its METADATA declares. It reads only. Errors: store.ErrNotFound (no such
// environment), store.ErrCorrupt (an entry without readable METADATA).
func (w *Workspace) Export(ctx context.Context, env string) (*sbom.Inventory, error) {
	e, err := w.OpenEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	items, _, err := w.Winners(ctx, e)
	if err != nil {
		return nil, err
	}
	inv := &sbom.Inventory{Env: e.Name, Python: e.Py.Version, Packages: make([]sbom.Package, 0, len(items))}
	for _, it := range items {
		en := it.Entry
		md, err := EntryMetadata(w.Store.EntryDir(en.SHA256))
		if err != nil {
			return nil, fmt.Errorf("%s %s (entry %s): METADATA: %v: %w", en.Name, en.Version, en.SHA256, err, store.ErrCorrupt)
		}
		inv.Packages = append(inv.Packages, sbom.Package{
			Name: en.Name, Version: en.Version, SHA256: en.SHA256, Wheel: en.Filename, Layer: it.Layer,
			LicenseExpression: md.LicenseExpression, License: md.License, LicenseClassifiers: md.LicenseClassifiers,
		})
	}
	return inv, nil
}
