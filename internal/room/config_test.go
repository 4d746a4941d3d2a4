package room

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
)

// Each zero that the Config documents as "off" reaches the hub as off.
func TestConfigZeroMeansOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.History, cfg.MaxRooms, cfg.FloodLimit, cfg.MaxNicksPerKey, cfg.MaxLines = 0, 0, 0, 0, 0
	cfg.RatePerSecond, cfg.RateBurst = 0, 0
	cfg.RoomCreateInterval, cfg.RoomReclaimAfter, cfg.SlowTimeout, cfg.MaxSessionsPerKey = 0, 0, 0, -1
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h := NewHub(append(cfg.Options(), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))...)
	if h.history != 0 || h.maxRooms != math.MaxInt || h.floodLimit != 0 || h.accessCfg.MaxNicksPerKey != 0 || h.maxSessionsPerKey != 0 ||
		h.roomBurst != 0 || h.reclaimAfter != 0 || h.slowTimeout != 0 || h.maxLines != 0 {
		t.Errorf("history %d, max rooms %d, flood limit %d, nicks per key %d, room burst %d, reclaim %s, slow timeout %s, max lines %d: want all off",
			h.history, h.maxRooms, h.floodLimit, h.accessCfg.MaxNicksPerKey, h.roomBurst, h.reclaimAfter, h.slowTimeout, h.maxLines)
	}
	// --rate 0: far more lines than any burst all pass.
	a := connect(t, h, "alice", ViaWeb)
	for i := range 3 * DefaultRateBurst {
		say(t, h, a, fmt.Sprint("line ", i))
	}
}

// DefaultConfig gives the hub its documented defaults.
func TestDefaultConfigIsTheHubDefault(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	h, d := NewHub(DefaultConfig().Options()...), NewHub()
	if h.history != d.history || h.maxRooms != d.maxRooms || h.queueSize != d.queueSize || h.maxMessage != d.maxMessage || h.maxLines != d.maxLines ||
		h.rateBurst != d.rateBurst || h.ratePerSec != d.ratePerSec || h.floodLimit != d.floodLimit ||
		h.accessCfg.MaxNicksPerKey != d.accessCfg.MaxNicksPerKey || h.slowTimeout != d.slowTimeout || h.roomBurst != d.roomBurst ||
		h.roomEvery != d.roomEvery || h.reclaimAfter != d.reclaimAfter || h.storePM != d.storePM || h.maxSessionsPerKey != d.maxSessionsPerKey {
		t.Errorf("DefaultConfig's hub differs from NewHub()'s")
	}
}

// Settings with no meaning are refused, each by name.
func TestConfigValidateRefuses(t *testing.T) {
	cfg := DefaultConfig()
	cfg.QueueSize, cfg.MaxMessage, cfg.History, cfg.RateBurst, cfg.FloodLimit, cfg.MaxLines = 0, 0, -1, 0, -1, -1
	cfg.MaxSessionsPerKey = -2
	err := cfg.Validate()
	for _, want := range []string{"outbound queue", "max message", "history", "rate burst", "flood limit", "max lines", "max sessions per key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to name %s", err, want)
		}
	}
}
