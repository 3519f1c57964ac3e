package abi

import (
	"slices"
	"testing"
)

func TestFindingCodes(t *testing.T) {
	fs := []Finding{
		{Code: "glibc", Severity: Incompatible},
		{Code: "note", Severity: Info},
		{Code: "cuda_driver", Severity: Risk},
		{Code: "glibc", Severity: Incompatible},
	}
	if got := FindingCodes(fs); !slices.Equal(got, []string{"glibc", "cuda_driver"}) {
		t.Errorf("FindingCodes = %q, want glibc, cuda_driver (Info left out, each once, in order)", got)
	}
	if got := FindingCodes(nil); got == nil || len(got) != 0 {
		t.Errorf("FindingCodes(nil) = %#v, want an empty, non-nil slice (reports print [])", got)
	}
}
