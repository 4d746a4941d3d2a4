//go:build !linux

package main

import (
	"time"

	"github.com/gorilla/websocket"

	"github.com/tertulia/tertulia/internal/chatclient"
)

// wsPollers is Linux's (epoll); elsewhere every connection has its reader
// goroutine.
type wsPollers struct{}

func newWSPollers(int, func(*client, []byte, time.Time), func(*client, error)) *wsPollers {
	return nil
}

func (p *wsPollers) add(*client, *chatclient.WS, chan struct{}) bool { return false }

func (p *wsPollers) close() {}

func (p *wsPollers) dialer(base *websocket.Dialer) *websocket.Dialer { return base }
