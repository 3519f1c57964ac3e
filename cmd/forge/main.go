// Command forge is a layered dependency runtime for Python with a shared,
// content-addressed wheel store and a GPU/CUDA-aware ABI engine.
package main

import "os"

func main() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) }
