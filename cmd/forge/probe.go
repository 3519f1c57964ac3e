package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/abi"
)

func init() { register(newProbeCmd) }

// probeOptions are the flags of `forge probe`.
type probeOptions struct {
	Python      string
	HostProfile string
}

func newProbeCmd(app *App) *cobra.Command {
	var o probeOptions
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Describe this host (libc, CPU, Python, CUDA driver, GPUs) as a host profile",
		Long: `Describe this host as the ABI engine sees it. With --json, print the
forge.host/v1 host profile document, which --host-profile accepts elsewhere.
FORGE_OVERRIDE_GLIBC, FORGE_OVERRIDE_CUDA (empty: no GPU), FORGE_OVERRIDE_DRIVER,
FORGE_OVERRIDE_GPUS and FORGE_OVERRIDE_X86_64_LEVEL replace probed values.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := hostFor(app, o.HostProfile, o.Python)
			if err != nil {
				return err
			}
			return app.Print(h, func(w io.Writer) { writeHost(w, h) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Python, "python", "", "interpreter to describe: a path or X.Y (default python3 on PATH)")
	f.StringVar(&o.HostProfile, "host-profile", "", "show this host profile file instead of probing")
	return cmd
}

// writeHost is the text form of a host profile.
func writeHost(w io.Writer, h *abi.Host) {
	row := func(k, format string, args ...any) { fmt.Fprintf(w, "%-9s %s\n", k+":", fmt.Sprintf(format, args...)) }
	if h.Name != "" {
		row("name", "%s", h.Name)
	}
	row("platform", "%s/%s", h.OS, h.Arch)
	switch lc := h.Libc; {
	case lc == nil:
		row("libc", "unknown")
	default:
		s := lc.Family + " " + lc.Version
		if lc.Libstdcxx != "" {
			s += ", libstdc++ GLIBCXX_" + lc.Libstdcxx
		}
		row("libc", "%s", strings.TrimSpace(s))
	}
	if c := h.CPU; c != nil {
		s := strings.TrimSpace(c.Vendor + " " + c.Brand)
		if c.X86_64Level > 0 {
			s += fmt.Sprintf(", x86-64-v%d", c.X86_64Level)
		}
		row("cpu", "%s (%d flags)", s, len(c.Flags))
	} else {
		row("cpu", "unknown")
	}
	if p := h.Python; p != nil {
		first := ""
		if len(p.Tags) > 0 {
			first = ", best tag " + p.Tags[0]
		}
		row("python", "%s %s %s (%d tags%s)", p.Implementation, p.Version, p.ABI, len(p.Tags), first)
	} else {
		row("python", "none")
	}
	if c := h.CUDA; c != nil {
		row("cuda", "driver %s, CUDA %s, %d visible GPU(s)", orDash(c.DriverVersion), orDash(c.CUDAVersion), len(c.Devices))
		for _, d := range c.Devices {
			mig := ""
			if d.MIG {
				mig = ", MIG"
			}
			// FORGE_OVERRIDE_GPUS devices have neither memory nor a UUID.
			mem := "memory unknown"
			if d.MemoryMiB > 0 {
				mem = fmt.Sprintf("%d MiB", d.MemoryMiB)
			}
			uuid := ""
			if d.UUID != "" {
				uuid = " " + d.UUID
			}
			fmt.Fprintf(w, "  gpu %d: %s, sm %s, %s%s%s\n", d.Index, orDash(d.Name), d.ComputeCapability, mem, mig, uuid)
		}
	} else {
		row("cuda", "none")
	}
	if h.VisibleDevices != nil {
		row("visible", "CUDA_VISIBLE_DEVICES=%q", *h.VisibleDevices)
	}
	row("libs", "%d shared libraries", len(h.Libraries))
	keys := make([]string, 0, len(h.Reasons))
	for k := range h.Reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  note %s: %s\n", k, h.Reasons[k])
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
