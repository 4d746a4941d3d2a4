package sshchat

import (
	"bytes"
	"sync"

	"github.com/charmbracelet/colorprofile"
)

// maxProfileRows bounds each profile's cache of converted rows; a full
// cache starts again empty, which costs conversions, never correctness.
const maxProfileRows = 4096

// profileRows converts rows, styled in true colour, to the colours of
// terminals with fewer (the nearest ones, as colorprofile.Writer gives),
// once per row and profile for all the sessions of a server: a row a
// thousand sessions show (a message's line) is converted once, not once per
// session and frame. Rows are keyed by their text, so a row rendered apart
// by each session (another look, say) still shares its conversion.
type profileRows struct {
	byProfile [colorprofile.TrueColor]profileRowCache
}

type profileRowCache struct {
	mu   sync.Mutex
	rows map[string]string
}

// convert is row for a terminal of profile p. rows may be nil (tests): the
// row is then converted without a cache.
func (r *profileRows) convert(p colorprofile.Profile, row string) string {
	if p >= colorprofile.TrueColor || row == "" {
		return row
	}
	if r == nil {
		return convertRow(p, row)
	}
	c := &r.byProfile[p]
	c.mu.Lock()
	out, ok := c.rows[row]
	c.mu.Unlock()
	if ok {
		return out
	}
	out = convertRow(p, row)
	c.mu.Lock()
	if c.rows == nil || len(c.rows) >= maxProfileRows {
		c.rows = make(map[string]string)
	}
	c.rows[row] = out
	c.mu.Unlock()
	return out
}

// convertRow is row through colorprofile.Writer: colours downsampled to p,
// every other byte as it was. A row holds whole escape sequences, so
// converting rows one by one gives the bytes converting the frame would.
func convertRow(p colorprofile.Profile, row string) string {
	var b bytes.Buffer
	b.Grow(len(row))
	w := colorprofile.Writer{Forward: &b, Profile: p}
	if _, err := w.WriteString(row); err != nil {
		return row
	}
	return b.String()
}
