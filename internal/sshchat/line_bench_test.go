package sshchat

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

// BenchmarkLineWrite is line mode's writer over a real SSH channel on
// loopback TCP, a client reading it: per-event is how events were written
// before writeLines (one channel Write, so one SSH packet and system call,
// per event), batched is writeLines; with 1 or 8 events queued per wake-up
// of the writer. ns/op is per event.
func BenchmarkLineWrite(b *testing.B) {
	for _, mode := range []string{"per-event", "batched"} {
		for _, size := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/events=%d", mode, size), func(b *testing.B) {
				ch := benchSSHChannel(b)
				batch := make([]*room.Event, size)
				for i := range batch {
					batch[i] = benchMessage(uint64(i + 1))
				}
				s := &Server{}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i += size {
					if mode == "per-event" {
						for _, ev := range batch {
							if _, err := ch.Write(ev.Render(room.FormatLine, wire.FormatLine)); err != nil {
								b.Fatal(err)
							}
						}
					} else if err := s.writeLines(ch, batch); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// benchSSHChannel is the server's side of a session channel to a client on
// loopback that reads and discards what it gets.
func benchSSHChannel(b *testing.B) gossh.Channel {
	b.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(key)
	if err != nil {
		b.Fatal(err)
	}
	cfg := &gossh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	channels := make(chan gossh.Channel, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, chans, reqs, err := gossh.NewServerConn(c, cfg)
		if err != nil {
			return
		}
		go gossh.DiscardRequests(reqs)
		nc := <-chans
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go gossh.DiscardRequests(chReqs)
		channels <- ch
	}()
	client, err := gossh.Dial("tcp", ln.Addr().String(), &gossh.ClientConfig{
		User: "bench", HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close() })
	cch, creqs, err := client.OpenChannel("session", nil)
	if err != nil {
		b.Fatal(err)
	}
	go gossh.DiscardRequests(creqs)
	go func() { _, _ = io.Copy(io.Discard, cch) }()
	return <-channels
}
