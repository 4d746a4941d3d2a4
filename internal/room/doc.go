// Package room is the domain core of Tertulia: sessions, rooms, commands and
// the events they produce. It knows nothing of SSH or HTTP; front-ends attach
// sessions with Hub.Connect, feed user input to Hub.Input and write out what
// arrives on Session.Events: in batches taken with Session.NextBatch, each
// acknowledged with Session.Ack once written, and what is left with
// Session.Drain once Session.Done is closed (outbox.go). Which events are
// queued, skipped or make a session be dropped as too slow is decided here
// (Session.deliver), not by the front-ends; Session.CloseReason says why a
// session ended.
//
// # Lock order
//
// Locks are taken in this order, outer first; a lock may be taken while
// holding only locks above it, never one above while holding one below.
//
//  0. person.memberMu: makes a change of one person's rooms one step (a
//     join or part applied to each of its sessions, a new session put in
//     its person's rooms: see person.go). Taken holding no lock, held
//     across store I/O (creating a room, reading the key's rooms), never
//     two people's at once; any lock below may be taken under it. Connect
//     locks a new person's before publishing it under Hub.mu: nobody else
//     can hold it then.
//  1. Room.pubMu: orders one room's stored entries (store order is delivery
//     order). Held across store I/O. Never two rooms' at once.
//     access.Book.regMu is of the same tier: it makes a key's registration
//     count and insert one step, is held across store I/O, and is taken by
//     Book.Register only, which the hub calls holding no lock; the two are
//     never held together.
//     Hub.settingsMu (striped by key) too: it makes a change of a user's
//     settings one step
//     (store write, then the key's sessions), is held across store I/O,
//     is taken holding no lock, and takes Hub.mu under it.
//     Room.feedMu (cluster mode, bus.go) too: it makes starting or
//     stopping the room's feed on the bus one step, is taken holding no
//     lock or pubMu, is held across store I/O (the room's reload and the
//     feed's first catch-up), and the feed's own lock (which calls the
//     hub's deliverEntry, taking Room.mu) is taken under it. pubMu is
//     never taken under it.
//  2. Hub.mu: nicks (each a person's), the people of registered keys and
//     each person's sessions, rooms, rooms being created or removed.
//  3. Room.mu: a room's members (sessions) and people and their order, and
//     its watchers (one-shot sessions following it unlisted, oneshot.go); delivery to members
//     (Session.deliver) runs under it, so it never blocks. A big room's
//     pending presence summary is gathered under it, and sent under it
//     by a goroutine that waits at most a second (presence.go).
//  4. Session.mu: a session's nick, rooms, away text and reply target
//     (nick and away are its person's, copied to each of its sessions
//     under Hub.mu, then refreshed in the rooms).
//
// Leaves, taken under any of the above and holding nothing else:
// access.Book.mu (registrations, operators, bans, mutes, the allowlist, the
// MOTD, sign-in rate limiters: every Book method but Register takes only
// it, and never across store I/O), creatorTable.mu (room creation budgets),
// Session.lagMu (rooms and counts a lagging reader missed),
// oneShotRates.mu (the one-shot sessions' shared input budgets), readBook.mu
// (the keys' read markers; never held across store I/O), storedRooms.mu
// (cluster mode: the shared store's rooms as last read, roomdir.go; never
// held across store I/O), the presence
// bus's own lock (cluster mode, bus_presence.go: Changed is called under
// Room.mu or Hub.mu, Snapshot, which decodes the other nodes' lists, under
// Room.mu at most, never Hub.mu; it calls the hub's RemoteMembers and
// LocalMembers holding no lock).
//
// Who may do what is package access's (Hub.access, an *access.Book): the
// hub's identity and moderation methods ask the Book, then do the
// session-side part (notices, announcements, closing sessions).
//
// Session.Close may run under room locks (a full queue closes its session
// from deliver): it only closes channels and runs the front-end's OnClose
// hook, and leaves its rooms from a goroutine of its own. The front-end's
// OnQueued hook runs under room locks and Session.lagMu too: it only notes
// the session on a list under a leaf lock of the front-end's (the web
// front-end's fan-out shards) and may start a goroutine.
package room
