package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// writeHealth remembers whether the store's last write failed, so that
// readiness reports a store that can be read but not written (a full disk,
// a read-only folder): a ping reads and would say ready.
type writeHealth struct {
	mu  sync.Mutex
	err error // the last write failure; nil once a probe write succeeds
}

// note records a write's failure. Errors caused by the write itself (a
// constraint) or by its caller giving up say nothing about the store. A
// success does not clear it: a short write may fit where a message does
// not; only a message-sized probe (probeWrite) does.
func (w *writeHealth) note(err error) {
	if err == nil || !storeFault(err) {
		return
	}
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
}

func (w *writeHealth) clear() {
	w.mu.Lock()
	w.err = nil
	w.mu.Unlock()
}

func (w *writeHealth) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// storeFault tells an error of the store (disk full, I/O, read-only,
// locked) from one of the request.
func storeFault(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqliteConstraint {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && strings.HasPrefix(pe.Code, postgresConstraintClass) {
		return false
	}
	return true
}

// sqliteConstraint is SQLITE_CONSTRAINT's primary result code;
// postgresConstraintClass is the SQLSTATE class of integrity constraint
// violations.
const (
	sqliteConstraint        = 19
	postgresConstraintClass = "23"
)

// probeSize is about a long message: a probe that fits in the space a
// smaller write freed would say ready while messages still fail.
const probeSize = 8 << 10

// Ready implements the readiness check: the database answers and, if the
// last write failed, a write of a message's size now succeeds.
func (s *sqlStore) Ready(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return err
	}
	failed := s.health.failure()
	if failed == nil {
		return nil
	}
	if err := s.probeWrite(ctx); err != nil {
		return fmt.Errorf("writes fail: %w", err)
	}
	return nil
}

// probeWrite writes one row of probeSize bytes, in place of the last one.
func (s *sqlStore) probeWrite(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO settings(key, value) VALUES ('write_probe', ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`), strings.Repeat("p", probeSize))
	if err != nil {
		s.health.note(err)
		return err
	}
	s.health.clear()
	return nil
}

// noteWrite records the failure of a write made with ExecContext, if it
// failed, and passes its outcome on.
func (s *sqlStore) noteWrite(res sql.Result, err error) (sql.Result, error) {
	s.health.note(err)
	return res, err
}
