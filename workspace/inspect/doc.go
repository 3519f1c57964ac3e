// Package inspect answers which copy of a package an environment imports
// and why: forge inspect (Inspect: the winning layer, the shadowed copies,
// the conflicts a package takes part in), forge tree (Tree: every layer's
// packages, the dependency edges and conflicts) and Resolve. It reads only;
// the decisions are the resolver's, over the layers workspace records and
// the packages pip installed on its own (unmanaged).
package inspect
