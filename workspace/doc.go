// Package workspace is forge's core over one forge home: it opens the store,
// reads and writes environment records, asks the ABI engine for verdicts and
// has the linker carry them out. It owns environments (create, remove,
// settings, activate), layers and the link steps every command uses
// (LinkEntries, UnlinkManifest, Relink, RefreshLayering), install and
// uninstall, export, host profiles, markers and metadata, what the store's
// entries are linked by (which gc and doctor count the same way), and the
// history journal that records each operation.
//
// Each other command's work is in a package of its own that builds on this
// one: workspace/abireport (abi check, abi matrix), workspace/doctor
// (doctor, --fix, --abi, --rebuild), workspace/gc (gc), workspace/inspect
// (inspect, tree), workspace/pipshim (pip install) and workspace/reproduce
// (lock, sync, snapshots, rollback, history). Commands in cmd/forge make
// one call into one of them.
package workspace
