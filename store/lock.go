package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Lock is an advisory cross-process lock on a file under $FORGE_HOME/locks.
// The kernel releases it when the process dies, so a killed forge never
// leaves a lock behind.
type Lock struct{ f *os.File }

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	return err
}

// TryLockFile takes the exclusive lock named name if it is free now, and
// returns nil, without waiting, when another holder has it.
func (s *Store) TryLockFile(name string) (*Lock, error) {
	done, cancel := context.WithCancel(context.Background())
	cancel() // try once, never wait
	lk, err := s.LockFile(done, name, true, nil)
	if errors.Is(err, ErrLocked) {
		return nil, nil
	}
	return lk, err
}

// LockFile takes a shared or exclusive lock named name, waiting until ctx is
// done. onWait, when not nil, is called once if the lock is not free at once
// (to say "waiting for lock …").
func (s *Store) LockFile(ctx context.Context, name string, exclusive bool, onWait func()) (*Lock, error) {
	path := filepath.Join(s.home, "locks", name+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	waited := false
	delay := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		if !waited && onWait != nil {
			onWait()
		}
		waited = true
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w (%v)", name, ErrLocked, ctx.Err())
		case <-time.After(delay):
		}
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}
