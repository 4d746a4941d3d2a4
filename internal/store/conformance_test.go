package store_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

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

// One throw-away PostgreSQL server serves the package's tests (a database
// each); TestMain stops it.
var (
	pgOnce   sync.Once
	pgServer *pgtest.Server
	pgErr    error
)

func startPostgres(t *testing.T) *pgtest.Server {
	t.Helper()
	pgOnce.Do(func() { pgServer, pgErr = pgtest.Start() })
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	return pgServer
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pgServer != nil {
		pgServer.Stop()
	}
	os.Exit(code)
}

// Concurrent writers (as on several nodes) to one room: each entry's Prev
// is the entry before it in ID order, so the chain has no fork and no gap,
// and EntriesAfter reads the same order back, topic changes included.
func TestPostgresChainsARoomsEntries(t *testing.T) {
	srv := startPostgres(t)
	url, err := srv.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var stores []*store.Postgres
	for range 3 { // one pool per "node"
		s, err := store.OpenPostgres(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	if err := stores[0].EnsureRoom(ctx, store.Room{Name: "lobby", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	prevOf := map[int64]int64{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%len(stores)]
			for i := range 20 {
				m := &store.Message{Room: "lobby", Kind: store.KindMessage, From: "w", Text: fmt.Sprint(w, i), Time: time.Now()}
				var err error
				if i == 7 {
					err = s.SetTopic(ctx, m)
				} else {
					err = s.AppendMessage(ctx, m)
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				prevOf[m.ID] = m.Prev
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	entries, err := stores[1].EntriesAfter(ctx, "lobby", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 120 || len(prevOf) != 120 {
		t.Fatalf("%d entries read, %d written", len(entries), len(prevOf))
	}
	var prev int64
	for _, e := range entries {
		if prevOf[e.ID] != prev {
			t.Fatalf("entry %d has Prev %d, want %d", e.ID, prevOf[e.ID], prev)
		}
		prev = e.ID
	}
}
