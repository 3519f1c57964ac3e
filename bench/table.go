package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// goals turns medians into the goal table.
func goals(r *results) []goalRow {
	var out []goalRow
	for _, c := range r.Corpora {
		m := c.Medians
		ratio := func(a, b float64) float64 {
			if b == 0 {
				return 0
			}
			return a / b
		}
		cold := ratio(m["pip_cold"], m["forge_cold"])
		out = append(out, goalRow{c.Name, "cold install vs pip", dur(m["forge_cold"]), "pip " + dur(m["pip_cold"]), cold, "≥ 4× faster", cold >= 4})
		fl := ratio(m["forge_cold"], m["floor"])
		out = append(out, goalRow{c.Name, "cold install vs floor", dur(m["forge_cold"]), "floor " + dur(m["floor"]), fl, "≤ 1.5× floor", fl <= 1.5})
		warm := ratio(m["pip_warm"], m["forge_warm"])
		out = append(out, goalRow{c.Name, "warm install vs pip", dur(m["forge_warm"]), "pip " + dur(m["pip_warm"]), warm, "≥ 200× faster", warm >= 200})
		cr := ratio(m["venv_create"], m["forge_create"])
		out = append(out, goalRow{c.Name, "create vs venv", dur(m["forge_create"]), "venv " + dur(m["venv_create"]), cr, "≥ 10× faster", cr >= 10})
		if c.DiskStore > 0 {
			d := ratio(float64(c.DiskTen), float64(c.DiskStore))
			out = append(out, goalRow{c.Name, "disk: store + 10 envs", mib(c.DiskTen), "store " + mib(c.DiskStore), d, "≤ 1.05× store", d <= 1.05})
		}
		if c.Name == "large" {
			out = append(out, goalRow{c.Name, "peak RSS, cold ingest", mib(c.PeakRSS), "", float64(c.PeakRSS) / (1 << 20), "≤ 256 MiB", c.PeakRSS <= 256<<20})
		}
	}
	if s := r.Scaling; s != nil {
		for _, op := range scalingOps {
			big, ok := s.BigMedian[op]
			if !ok {
				continue
			}
			small := s.SmallMedian[op]
			q := 0.0
			if small > 0 {
				q = big / small
			}
			out = append(out, goalRow{"scaling", op, fmt.Sprintf("%d entries/%d envs %s", s.BigEntries, s.BigEnvs, dur(big)),
				fmt.Sprintf("%d/%d %s", s.SmallEntries, s.SmallEnvs, dur(small)), q, "≤ 2×", q <= 2})
		}
	}
	if r.Sync != nil {
		out = append(out, syncGoals(r.Sync)...)
	}
	return append(out, rollbackGoals(r.Rollback)...)
}

func dur(s float64) string {
	switch {
	case s == 0:
		return "-"
	case s < 1:
		return fmt.Sprintf("%.1f ms", s*1000)
	default:
		return fmt.Sprintf("%.2f s", s)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func printTable(w io.Writer, r *results) {
	fmt.Fprintf(w, "\n%s\nmachine: %s\npython: %s, reps: %d (medians), scale: %g\n", r.Command, r.Machine, r.Python, r.Reps, r.Scale)
	fmt.Fprintf(w, "scratch: deleted after the run; top of hierarchy for the allocator (chattr +T): %v\n\n", r.TopDir)
	for _, c := range r.Corpora {
		fmt.Fprintf(w, "corpus %-8s %4d wheels, %6d members, %8.1f MiB unpacked; floor (inflate+SHA-256, parallel, nothing written): %s; creating a file: %.0f µs\n",
			c.Name, c.Wheels, c.Members, float64(c.Bytes)/(1<<20), dur(c.Medians["floor"]), c.CreateCost*1e6)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "corpus\tfigure\tforge\tpeer / reference\tratio\tgoal\tmet")
	for _, g := range r.Goals {
		unit := "×"
		switch {
		case strings.HasPrefix(g.Figure, "peak RSS"):
			unit = " MiB"
		case strings.HasPrefix(g.Figure, "lock of"):
			unit = " ms"
		}
		met := "yes"
		if !g.Met {
			met = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f%s\t%s\t%s\n", g.Corpus, g.Figure, g.Forge, g.Peer, g.Ratio, unit, g.Goal, met)
	}
	tw.Flush()
	if r.Scaling != nil {
		for _, n := range r.Scaling.Notes {
			fmt.Fprintln(w, "note:", n)
		}
	}
}
