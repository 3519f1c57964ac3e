// Package doctor checks a forge home against what its metadata says and
// repairs it: forge doctor (Run: the scan of the store, the environments,
// the links and the database, and --fix's ordered repairs), doctor --abi
// (ABI: every package every environment sees, re-checked on this host, with
// its on-disk cache) and doctor --rebuild (Rebuild: a lost forge.db
// recovered from the files). Issue kinds and fix actions are part of
// forge's JSON contract. The operations it repairs live in workspace: a
// repair calls them (Relink, DropOwned, Strays, the rollback journal), it
// does not redo them.
package doctor
