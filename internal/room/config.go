package room

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config is the hub's tunable limits, one field per command-line flag.
// Start from DefaultConfig: a zero field is never read as "the default",
// it means what the field's comment says (often "off").
type Config struct {
	// QueueSize is the events queued per session (at least 1).
	QueueSize int
	// MaxMessage is the longest message, in characters (at least 1).
	MaxMessage int
	// MaxLines is the most lines one message may have; 0: no cap but
	// MaxMessage; 1: messages are single lines.
	MaxLines int
	// History is how many recent messages a joiner receives; 0: none.
	History int
	// MaxRooms bounds the number of rooms; 0: no cap.
	MaxRooms int
	// MaxNicksPerKey caps the nicks one key may register; 0 or -1: no cap.
	MaxNicksPerKey int
	// MaxSessionsPerKey caps the sessions one registered key may have at
	// once (they share its nick); 0 or -1: no cap.
	MaxSessionsPerKey int
	// RateBurst lines at once, then RatePerSecond a second, per session;
	// RatePerSecond 0: lines are not limited (RateBurst is then unused).
	RateBurst     int
	RatePerSecond float64
	// FloodLimit refused lines in a row disconnect a session; 0: never.
	FloodLimit int
	// SlowTimeout: a session lagging behind its full queue that writes
	// nothing this long is dropped; 0: dropped as soon as its queue is
	// full, no message skipped.
	SlowTimeout time.Duration
	// RoomCreateBurst rooms at once, then one every RoomCreateInterval,
	// may be created per session and per address; a burst of 0 or -1, or
	// an interval of 0: no limit.
	RoomCreateBurst    int
	RoomCreateInterval time.Duration
	// RoomReclaimAfter: rooms holding nothing are removed once empty this
	// long; 0: never.
	RoomReclaimAfter time.Duration
	// StorePrivate stores private messages too.
	StorePrivate bool
	// OfflineRetention is how long private messages to an offline
	// registered nick, and the mentions of it found at its return, are
	// kept; 0: neither is kept (such a message is refused as to anyone
	// not connected).
	OfflineRetention time.Duration
	// MaxWaiting is how many private messages may wait for one key (at
	// least 1).
	MaxWaiting int
	// PresenceSummaryAbove: rooms of more members get presence summed up
	// at most once a second, and member lists in pages; 0: never.
	PresenceSummaryAbove int
}

// DefaultConfig is the hub's limits as documented for the flags.
func DefaultConfig() Config {
	return Config{
		QueueSize:          DefaultQueueSize,
		MaxMessage:         DefaultMaxMessage,
		MaxLines:           DefaultMaxLines,
		History:            DefaultHistory,
		MaxRooms:           DefaultMaxRooms,
		MaxNicksPerKey:     DefaultMaxNicksPerKey,
		MaxSessionsPerKey:  DefaultMaxSessionsPerKey,
		RateBurst:          DefaultRateBurst,
		RatePerSecond:      DefaultRatePerSecond,
		FloodLimit:         DefaultFloodLimit,
		SlowTimeout:        DefaultSlowTimeout,
		RoomCreateBurst:    DefaultRoomCreateBurst,
		RoomCreateInterval: DefaultRoomCreateInterval,
		RoomReclaimAfter:   DefaultRoomReclaimAfter,
		OfflineRetention:   DefaultOfflineRetention,
		MaxWaiting:         DefaultMaxWaiting,

		PresenceSummaryAbove: DefaultPresenceSummaryAbove,
	}
}

// Validate reports every setting that has no meaning.
func (c Config) Validate() error {
	var errs []error
	if c.QueueSize < 1 {
		errs = append(errs, fmt.Errorf("outbound queue %d: must be at least 1", c.QueueSize))
	}
	if c.MaxMessage < 1 {
		errs = append(errs, fmt.Errorf("max message %d: must be at least 1", c.MaxMessage))
	}
	if c.MaxLines < 0 {
		errs = append(errs, fmt.Errorf("max lines %d: must be 0 (no cap) or more", c.MaxLines))
	}
	if c.History < 0 {
		errs = append(errs, fmt.Errorf("history %d: must be 0 (none) or more", c.History))
	}
	if c.MaxRooms < 0 {
		errs = append(errs, fmt.Errorf("max rooms %d: must be 0 (no cap) or more", c.MaxRooms))
	}
	if c.MaxNicksPerKey < -1 {
		errs = append(errs, fmt.Errorf("max nicks per key %d: must be -1 or 0 (no cap) or more", c.MaxNicksPerKey))
	}
	if c.MaxSessionsPerKey < -1 {
		errs = append(errs, fmt.Errorf("max sessions per key %d: must be -1 or 0 (no cap) or more", c.MaxSessionsPerKey))
	}
	if c.RatePerSecond < 0 {
		errs = append(errs, fmt.Errorf("rate %g: must be 0 (not limited) or more", c.RatePerSecond))
	}
	if c.RatePerSecond > 0 && c.RateBurst < 1 {
		errs = append(errs, fmt.Errorf("rate burst %d: must be at least 1 while the rate is limited", c.RateBurst))
	}
	if c.FloodLimit < 0 {
		errs = append(errs, fmt.Errorf("flood limit %d: must be 0 (never) or more", c.FloodLimit))
	}
	if c.SlowTimeout < 0 {
		errs = append(errs, fmt.Errorf("slow timeout %s: must be 0 (at once) or more", c.SlowTimeout))
	}
	if c.RoomCreateBurst < -1 {
		errs = append(errs, fmt.Errorf("room create burst %d: must be -1 or 0 (no limit) or more", c.RoomCreateBurst))
	}
	if c.RoomCreateInterval < 0 {
		errs = append(errs, fmt.Errorf("room create interval %s: must be 0 (no limit) or more", c.RoomCreateInterval))
	}
	if c.RoomReclaimAfter < 0 {
		errs = append(errs, fmt.Errorf("room reclaim after %s: must be 0 (never) or more", c.RoomReclaimAfter))
	}
	if c.OfflineRetention < 0 {
		errs = append(errs, fmt.Errorf("offline retention %s: must be 0 (nothing kept) or more", c.OfflineRetention))
	}
	if c.MaxWaiting < 1 {
		errs = append(errs, fmt.Errorf("offline max messages %d: must be at least 1", c.MaxWaiting))
	}
	if c.PresenceSummaryAbove < 0 {
		errs = append(errs, fmt.Errorf("presence summary above %d: must be 0 (never) or more", c.PresenceSummaryAbove))
	}
	return errors.Join(errs...)
}

// Options turns the Config into hub options, each "off" into what the
// hub reads as off.
func (c Config) Options() []Option {
	maxRooms := c.MaxRooms
	if maxRooms == 0 {
		maxRooms = math.MaxInt
	}
	perSecond, burst := c.RatePerSecond, c.RateBurst
	if perSecond == 0 {
		// rate.Inf: every line passes, and nothing counts towards the
		// flood limit.
		perSecond, burst = math.MaxFloat64, max(burst, 1)
	}
	roomBurst := max(c.RoomCreateBurst, 0) // the hub reads 0 as no limit
	if c.RoomCreateInterval == 0 {
		roomBurst = 0
	}
	return []Option{
		WithQueueSize(c.QueueSize),
		WithMaxMessage(c.MaxMessage),
		WithMaxLines(c.MaxLines),
		WithHistory(c.History),
		WithMaxRooms(maxRooms),
		WithMaxNicksPerKey(c.MaxNicksPerKey),
		WithMaxSessionsPerKey(c.MaxSessionsPerKey),
		WithRate(burst, perSecond),
		WithFloodLimit(c.FloodLimit),
		WithSlowTimeout(c.SlowTimeout),
		WithRoomCreation(roomBurst, c.RoomCreateInterval),
		WithRoomReclaim(c.RoomReclaimAfter),
		WithStorePrivate(c.StorePrivate),
		WithOffline(c.OfflineRetention, c.MaxWaiting),
		WithPresenceSummaryAbove(c.PresenceSummaryAbove),
	}
}
