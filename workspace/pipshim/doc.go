// Package pipshim is forge pip install (Install): pip's own arguments, with
// forge's store, checks and history behind them. It parses the arguments,
// plans from the store when every requirement is already there (the
// resolver decides; see resolver.PlanInstall), and otherwise lets the real
// pip resolve and download, then ingests, checks and links what pip chose
// through workspace's install, so that a pip install is checked, shared and
// recorded like any other. Running pip itself (RunPip, PipError) is in
// workspace: sync downloads with it too.
package pipshim
