package errkind

import (
	"errors"
	"fmt"
	"testing"
)

func TestWith(t *testing.T) {
	cause := fmt.Errorf("environment app: remove it first")
	err := With(cause, Exists)
	if !errors.Is(err, Exists) || !errors.Is(err, cause) {
		t.Errorf("errors.Is: kind %v, cause %v; want both", errors.Is(err, Exists), errors.Is(err, cause))
	}
	if errors.Is(err, NotFound) {
		t.Error("With gave a kind it was not given")
	}
	if err.Error() != cause.Error() {
		t.Errorf("text %q, want the cause's %q alone", err.Error(), cause.Error())
	}
}
