package main

import (
	"bytes"
	"testing"

	"github.com/forge-ml/forge/abi"
)

func TestPrintFindingsFolds(t *testing.T) {
	jit := func(file string) abi.Finding {
		return abi.Finding{Code: abi.CodePTXJIT, Severity: abi.Risk, File: file,
			Message: file + ": only PTX compute_52 (PTX 8.2) for GPU 0 (8.0): JIT compilation at first start"}
	}
	fs := []abi.Finding{
		jit("torch/lib/libgloo_cuda.so.0"), jit("torch/lib/liba.so"), jit("torch/lib/libb.so"), jit("torch/lib/libc.so"), jit("torch/lib/libd.so"),
		{Code: abi.CodeNoGPU, Severity: abi.Info, Message: "recorded"},
		{Code: abi.CodeMissingLibrary, Severity: abi.Risk, File: "x/_x.so", Message: "needs libz.so.1 (in x/_x.so): not found"},
	}
	var b bytes.Buffer
	printFindings(&b, "  ", fs, false)
	want := "  risk ptx_jit: torch/lib/libgloo_cuda.so.0: only PTX compute_52 (PTX 8.2) for GPU 0 (8.0): JIT compilation at first start (also liba.so, libb.so, libc.so and 1 more)\n" +
		"  risk missing_library: needs libz.so.1 (in x/_x.so): not found\n"
	if b.String() != want {
		t.Errorf("folded:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	printFindings(&b, "", fs, true)
	if n := bytes.Count(b.Bytes(), []byte("\n")); n != len(fs) {
		t.Errorf("verbose printed %d lines, want %d:\n%s", n, len(fs), b.String())
	}
}
