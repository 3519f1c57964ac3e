// Package reproduce makes an environment again, exactly: forge lock (Lock:
// a PEP 751 pylock.toml of what an environment sees), forge sync (Sync: an
// environment made to match a lock, all or nothing), forge snapshot and
// snapshots (Snapshot, Snapshots, RemoveSnapshot), forge rollback
// (Rollback, and FinishRollback, which doctor --fix runs for one that was
// interrupted) and forge history (History). Each operation that changes a
// layer is recorded through workspace's history journal; the links
// themselves are workspace's (LinkEntries, UnlinkManifest).
package reproduce
