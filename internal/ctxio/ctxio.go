// Package ctxio makes long reads stop when their context is cancelled
// (Ctrl-C while a large wheel is hashed or unpacked).
package ctxio

import (
	"context"
	"io"
)

// Reader returns r, failing each Read with ctx's error once ctx is done.
func Reader(ctx context.Context, r io.Reader) io.Reader { return reader{ctx, r} }

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
