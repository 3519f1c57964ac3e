package realstack

import "testing"

// TestVerdictsAgreeWithTable runs the built forge's `abi check --json` on
// every corpus wheel (together) against every host profile of
// testdata/profiles and compares each wheel × profile with
// testdata/verdicts.txt. Every disagreement is listed, with forge's findings.
func TestVerdictsAgreeWithTable(t *testing.T) {
	t.Parallel()
	c := corpus(t)
	profiles, err := ProfileNames("testdata/profiles")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseExpectations("testdata/verdicts.txt", profiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(profiles)*len(c.wheels) {
		t.Fatalf("verdicts.txt decides %d cells; the corpus has %d wheels × %d profiles", len(want), len(c.wheels), len(profiles))
	}
	rs := CompareVerdicts(want, forgeCheck(t).Verdicts())
	agree := 0
	for _, r := range rs {
		if r.Agree() {
			agree++
		}
	}
	t.Logf("verdicts vs verdicts.txt: %d/%d wheel × profile cells agree (%d wheels, %d profiles)", agree, len(rs), len(c.wheels), len(profiles))
	if agree != len(rs) {
		t.Errorf("forge disagrees with verdicts.txt on %d cells:\n%s", len(rs)-agree, VerdictTable(rs))
	}
}
