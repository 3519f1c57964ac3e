package workspace

// kinded gives err the kind of kind (errors.Is(err, kind) holds) without
// adding the kind's text: "…: remove them first: already exists" reads
// as noise to a user, while exit codes still come from the kind.
func kinded(err, kind error) error { return kindedError{err, kind} }

type kindedError struct{ err, kind error }

func (k kindedError) Error() string   { return k.err.Error() }
func (k kindedError) Unwrap() []error { return []error{k.err, k.kind} }
