package reproduce

// What the external tests of this directory (package workspace_test, which
// may import the command packages) reach inside: the rollback's fault
// point.

// FaultPoint is the rollback's fault hook.
var FaultPoint = &faultPoint
