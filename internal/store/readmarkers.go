package store

import "context"

// ReadMarker is where one key has read one conversation up to: the id of
// the last message read. Target names the conversation as the chat core
// does; the store does not read it.
type ReadMarker struct {
	Fingerprint string
	Target      string
	ID          int64
}

// ReadMarkerStore keeps the keys' read markers, which only move forward.
type ReadMarkerStore interface {
	// ReadMarkers returns the key's markers by target (none if it has
	// none).
	ReadMarkers(ctx context.Context, fingerprint string) (map[string]int64, error)
	// AdvanceReadMarkers moves the markers given (of any keys) to their
	// ids, in one step; a marker already at or past its id stays where it
	// is, so writes that overtake each other never move one back.
	AdvanceReadMarkers(ctx context.Context, markers []ReadMarker) error
}

// ReadMarkers implements ReadMarkerStore.
func (s *sqlStore) ReadMarkers(ctx context.Context, fingerprint string) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT target, last_id FROM read_markers WHERE fingerprint = ?`), fingerprint)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	markers := map[string]int64{}
	for rows.Next() {
		var target string
		var id int64
		if err := rows.Scan(&target, &id); err != nil {
			return nil, err
		}
		markers[target] = id
	}
	return markers, rows.Err()
}

// AdvanceReadMarkers implements ReadMarkerStore.
func (s *sqlStore) AdvanceReadMarkers(ctx context.Context, markers []ReadMarker) error {
	if len(markers) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, s.q(`INSERT INTO read_markers(fingerprint, target, last_id) VALUES (?, ?, ?)
		ON CONFLICT(fingerprint, target) DO UPDATE SET last_id = CASE WHEN excluded.last_id > read_markers.last_id THEN excluded.last_id ELSE read_markers.last_id END`))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, m := range markers {
		if _, err := stmt.ExecContext(ctx, m.Fingerprint, m.Target, m.ID); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ReadMarkers implements ReadMarkerStore.
func (s *Memory) ReadMarkers(ctx context.Context, fingerprint string) (map[string]int64, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	markers := make(map[string]int64, len(s.readMarkers[fingerprint]))
	for target, id := range s.readMarkers[fingerprint] {
		markers[target] = id
	}
	return markers, nil
}

// AdvanceReadMarkers implements ReadMarkerStore.
func (s *Memory) AdvanceReadMarkers(ctx context.Context, markers []ReadMarker) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, m := range markers {
		kept := s.readMarkers[m.Fingerprint]
		if kept == nil {
			kept = map[string]int64{}
			s.readMarkers[m.Fingerprint] = kept
		}
		kept[m.Target] = max(kept[m.Target], m.ID)
	}
	return nil
}
