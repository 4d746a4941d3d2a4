// Command tertulia-bench is a load generator for a running Tertulia server.
// It opens websocket clients and SSH clients (line mode and full-screen PTY
// sessions), puts them in one or more rooms, has some of them send at a given
// rate, and reports connect times, delivery latency (send to receive, per
// delivery), deliveries per second, lost and duplicated deliveries, and the
// server's memory and CPU (from /proc/PID with --pid, or from /metrics).
//
// Every run is bounded: by --duration, by --max-time for the whole run, and
// by a connection count (--max-conns). It only ever connects to the
// addresses it is given, which must be loopback unless --allow-remote.
//
//	go run ./cmd/tertulia-bench --scenario web-fanout --http-addr 127.0.0.1:8181 --pid $(pidof tertulia)
//
// See docs/performance.md for the scenarios and the reference figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "tertulia-bench:", err)
		return 2
	}
	if lim, err := raiseFileLimit(); err != nil {
		fmt.Fprintln(stderr, "tertulia-bench: raising the open-files limit:", err)
	} else if need := uint64(cfg.WS+cfg.Line+cfg.PTY) + 64; lim < need {
		fmt.Fprintf(stderr, "tertulia-bench: the open-files limit is %d, %d clients need about %d (raise the hard limit)\n", lim, cfg.WS+cfg.Line+cfg.PTY, need)
		return 2
	}
	for _, pid := range cfg.PIDs {
		if _, err := readProc(pid); err != nil {
			fmt.Fprintln(stderr, "tertulia-bench: --pid:", err)
			return 2
		}
		if lim := serverFileLimit(pid); lim > 0 && lim < int64(cfg.WS+cfg.Line+cfg.PTY)+64 {
			fmt.Fprintf(stderr, "tertulia-bench: the server's open-files limit is %d, too low for %d sessions: start it from a shell with `ulimit -n 65536` (or the hard limit)\n", lim, cfg.WS+cfg.Line+cfg.PTY)
			return 2
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), cfg.MaxTime)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var rep *report
	if cfg.Scenario == "scaling" {
		rep = scaling(ctx, cfg, stderr)
	} else {
		rep = newRun(cfg, stderr).execute(ctx)
	}
	if ctx.Err() != nil && rep.Aborted == "" {
		rep.Aborted = "stopped early: " + context.Cause(ctx).Error()
	}
	if cfg.JSON {
		writeJSON(stdout, rep)
	} else {
		writeTable(stdout, rep)
	}
	if cfg.JSONOut != "" {
		f, err := os.Create(cfg.JSONOut)
		if err == nil {
			writeJSON(f, rep)
			err = f.Close()
		}
		if err != nil {
			fmt.Fprintln(stderr, "tertulia-bench: --json-out:", err)
		}
	}
	if rep.Aborted != "" || !rep.allPassed() {
		return 1
	}
	return 0
}
