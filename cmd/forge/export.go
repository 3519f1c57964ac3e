package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/sbom"
)

func init() { register(newExportCmd) }

type exportOptions struct {
	format string
	output string
}

// exportReport is what `forge export -o FILE` prints.
type exportReport struct {
	Env      string `json:"env"`
	Format   string `json:"format"`
	File     string `json:"file"`
	Packages int    `json:"packages"`
}

func newExportCmd(app *App) *cobra.Command {
	var o exportOptions
	cmd := &cobra.Command{
		Use:   "export ENV --format cyclonedx|requirements [-o FILE]",
		Short: "Write what an environment imports as a CycloneDX SBOM or a hash-pinned requirements file",
		Long: `export writes the packages an environment imports (the copy of each name
its interpreter sees, from its own layer, its parents' or GLOBAL) for other
tools:

  cyclonedx     a CycloneDX 1.6 JSON bill of materials: one library
                component per package with its purl (pkg:pypi/NAME@VERSION),
                the SHA-256 of its wheel, its licence from METADATA
                (License-Expression, else the licence classifiers, else
                the License field) and its layer (property forge:layer).
  requirements  NAME==VERSION lines with --hash=sha256:…, the wheels forge
                installed, which pip install --require-hashes accepts.

It writes to stdout, or to -o FILE (atomically); nothing in the
environment or the store changes. With -o, --json prints a report.`,
		Example: `  forge export app --format cyclonedx -o app.cdx.json
  forge export app --format requirements > requirements.lock.txt
  python -m pip install --require-hashes --no-index --find-links wheels/ -r requirements.lock.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExport(cmd.Context(), app, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "", "cyclonedx or requirements (required)")
	f.StringVarP(&o.output, "output", "o", "", "file to write (default stdout)")
	cmd.MarkFlagRequired("format")
	cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"cyclonedx", "requirements"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.ValidArgsFunction = completeEnvArgs(app, 1)
	return cmd
}

func runExport(ctx context.Context, app *App, env string, o exportOptions) error {
	if o.format != "cyclonedx" && o.format != "requirements" {
		return usagef("--format %q: give cyclonedx or requirements", o.format)
	}
	if app.JSON && o.output == "" {
		return usagef("export writes %s to stdout; --json reports on it only with -o FILE", o.format)
	}
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	inv, err := ws.Export(ctx, env)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if o.format == "cyclonedx" {
		err = sbom.WriteCycloneDX(&buf, inv, sbom.CycloneDXOptions{Now: time.Now(), SerialNumber: newSerialNumber(), ToolVersion: version})
	} else {
		err = sbom.WriteRequirements(&buf, inv)
	}
	if err != nil {
		return err
	}
	if o.output == "" {
		_, err := app.Stdout.Write(buf.Bytes())
		return err
	}
	if err := abiWriteFile(o.output, buf.Bytes()); err != nil {
		return fmt.Errorf("-o %s: %w", o.output, err)
	}
	rep := exportReport{Env: env, Format: o.format, File: o.output, Packages: len(inv.Packages)}
	return app.Print(rep, func(w io.Writer) {
		fmt.Fprintf(w, "exported %d package(s) of %s as %s to %s\n", rep.Packages, env, o.format, o.output)
	})
}

// newSerialNumber is a random (version 4) UUID URN, as CycloneDX's
// serialNumber wants: each BOM written is a new document.
func newSerialNumber() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
