package connlimit

import (
	"errors"
	"fmt"
)

// Config caps and paces connections (SSH and web together), one field per
// command-line flag. Start from DefaultConfig: a zero field is never read
// as "the default".
type Config struct {
	// PerAddr and Total cap open connections per client address and in
	// all; 0 or -1: no cap.
	PerAddr int
	Total   int
	// Burst new connections at once, then Rate a second, per client
	// address; a Rate or Burst of 0, or a Rate of -1: not paced.
	Rate  float64
	Burst int
}

// DefaultConfig is the limits as documented for the flags.
func DefaultConfig() Config {
	return Config{PerAddr: DefaultPerAddr, Total: DefaultTotal, Rate: DefaultRate, Burst: DefaultBurst}
}

// Validate reports every setting that has no meaning.
func (c Config) Validate() error {
	var errs []error
	if c.PerAddr < -1 {
		errs = append(errs, fmt.Errorf("max conns per addr %d: must be -1 or 0 (no cap) or more", c.PerAddr))
	}
	if c.Total < -1 {
		errs = append(errs, fmt.Errorf("max conns %d: must be -1 or 0 (no cap) or more", c.Total))
	}
	if c.Rate < 0 && c.Rate != -1 {
		errs = append(errs, fmt.Errorf("conn rate %g: must be -1 or 0 (not paced) or more", c.Rate))
	}
	if c.Burst < 0 {
		errs = append(errs, fmt.Errorf("conn burst %d: must be 0 (not paced) or more", c.Burst))
	}
	return errors.Join(errs...)
}

// NewLimiter returns a limiter with these caps and pacing.
func (c Config) NewLimiter() *Limiter {
	return New(c.PerAddr, c.Total, WithRate(c.Rate, c.Burst))
}
