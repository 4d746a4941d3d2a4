package store_test

import (
	"context"
	"testing"

	"github.com/tertulia/tertulia/internal/store"
	"github.com/tertulia/tertulia/internal/store/pgtest"
	"github.com/tertulia/tertulia/internal/store/storetest"
)

func TestSQLiteConforms(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenSQLite(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestMemoryConforms(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := store.NewMemory()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestPostgresConforms runs the suite against a throw-away PostgreSQL
// server (pgtest), a fresh database per subtest.
func TestPostgresConforms(t *testing.T) {
	srv := startPostgres(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		url, err := srv.NewDatabase()
		if err != nil {
			t.Fatal(err)
		}
		s, err := store.OpenPostgres(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func startPostgres(t *testing.T) *pgtest.Server {
	t.Helper()
	srv, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}
