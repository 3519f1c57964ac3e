package abireport

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/forge-ml/forge/abi"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// Failures is the number of cells a CI run fails on: refused ones, and
// warned ones too when enforce (--enforce).
func (r *MatrixReport) Failures(enforce bool) int {
	if enforce {
		return r.Summary.Refuse + r.Summary.Warn
	}
	return r.Summary.Refuse
}

// WriteJUnit writes the matrix as JUnit XML: one testsuite per profile,
// one testcase per wheel. A refused cell (a warned one too, when enforce)
// is a <failure> whose text lists the findings; a warned cell otherwise
// carries them in <system-out>.
func (r *MatrixReport) WriteJUnit(out io.Writer, enforce bool) error {
	doc := junitSuites{Name: "forge abi matrix"}
	for pi, prof := range r.Profiles {
		s := junitSuite{Name: prof, Properties: []junitProperty{{"policy", string(r.Policy)}}}
		if r.Env != "" {
			s.Properties = append(s.Properties, junitProperty{"env", r.Env})
		}
		if r.Lock != "" {
			s.Properties = append(s.Properties, junitProperty{"lock", r.Lock})
		}
		for _, row := range r.Rows {
			if pi >= len(row.Cells) {
				continue
			}
			cell := row.Cells[pi]
			c := junitCase{Name: row.Name + " " + row.Version, Classname: "forge.abi." + prof}
			if row.Layer != "" {
				c.Name += " [" + row.Layer + "]"
			}
			if r.Lock != "" {
				c.Name += " " + row.File // a locked package may have a wheel per platform
			}
			var text strings.Builder
			for _, f := range cell.Findings {
				fmt.Fprintf(&text, "%s %s: %s\n", f.Severity, f.Code, f.Message)
			}
			switch {
			case cell.Verdict == abi.Refuse || (enforce && cell.Verdict == abi.Warn):
				c.Failure = &junitFailure{Type: string(cell.Verdict), Text: text.String(),
					Message: fmt.Sprintf("%s on %s under %s: %s", cell.Verdict, prof, r.Policy, strings.Join(cell.Codes, ", "))}
				s.Failures++
			case cell.Verdict == abi.Warn:
				c.SystemOut = fmt.Sprintf("warn on %s under %s\n%s", prof, r.Policy, text.String())
			}
			s.Cases = append(s.Cases, c)
			s.Tests++
		}
		for _, nc := range r.NotCheckable {
			s.Cases = append(s.Cases, junitCase{Name: nc.Name + " " + nc.Version + " " + nc.Wheel, Classname: "forge.abi." + prof,
				Failure: &junitFailure{Type: "not_checkable", Message: "not checkable: " + nc.Reason}})
			s.Tests++
			s.Failures++
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Suites = append(doc.Suites, s)
	}
	if _, err := io.WriteString(out, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(out)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(out, "\n")
	return err
}
