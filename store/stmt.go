package store

import (
	"context"
	"database/sql"
	"sync"
)

// Statements of the hot paths are prepared once per process: parsing SQL
// was a fifth of a warm install of 200 wheels (about 1,500 statements).
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// stmt returns the prepared statement for q.
func (s *Store) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if st, ok := s.stmts.m[q]; ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if s.stmts.m == nil {
		s.stmts.m = map[string]*sql.Stmt{}
	}
	s.stmts.m[q] = st
	return st, nil
}

// queryRow runs a prepared single-row query outside a transaction.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) (*sql.Row, error) {
	st, err := s.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(ctx, args...), nil
}

// prepTx runs prepared statements inside one transaction.
type prepTx struct {
	s   *Store
	ctx context.Context
	tx  *sql.Tx
	m   map[string]*sql.Stmt
}

func (s *Store) prepTx(ctx context.Context, tx *sql.Tx) *prepTx {
	return &prepTx{s: s, ctx: ctx, tx: tx, m: map[string]*sql.Stmt{}}
}

func (p *prepTx) get(q string) (*sql.Stmt, error) {
	if st, ok := p.m[q]; ok {
		return st, nil
	}
	st, err := p.s.stmt(p.ctx, q)
	if err != nil {
		return nil, err
	}
	st = p.tx.StmtContext(p.ctx, st)
	p.m[q] = st
	return st, nil
}

func (p *prepTx) exec(q string, args ...any) (sql.Result, error) {
	st, err := p.get(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(p.ctx, args...)
}

func (p *prepTx) queryRow(q string, args ...any) *sql.Row {
	st, err := p.get(q)
	if err != nil {
		return p.tx.QueryRowContext(p.ctx, q, args...) // reports err when scanned
	}
	return st.QueryRowContext(p.ctx, args...)
}

func (p *prepTx) query(q string, args ...any) (*sql.Rows, error) {
	st, err := p.get(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(p.ctx, args...)
}
