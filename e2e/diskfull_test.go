package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The data folder on a 600 kB tmpfs (mounted in a mount namespace of the
// server's own, never on the host). While the disk is full every message is
// refused, /readyz fails and the repeated store error is logged once per
// window, not once per message; once there is room again readiness returns
// and messages are stored.
func TestFullDiskFailsReadinessAndLogsOnce(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare (util-linux) is needed: %v", err)
	}
	dir := t.TempDir()
	tiny := filepath.Join(dir, "tiny")
	must(t, os.Mkdir(tiny, 0o700))
	mountTiny := []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", `mount -t tmpfs -o size=600k tmpfs "$0" && exec "$@"`, tiny}
	p := startProcessUnder(t, mountTiny, dir, "--data", filepath.Join(tiny, "data"))

	readyz := func() (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + p.HTTPAddr + "/readyz")
		must(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz at start: %d %s", code, body)
	}

	lc := newLineClient(t, p.SSHAddr, "filler")
	lc.expect("--> filler joined")
	payload := strings.Repeat("f", 1900)
	refused := 0
	const maxMessages = 2000 // 600 kB holds far fewer
	for i := 0; i < maxMessages && refused == 0; i++ {
		lc.send(fmt.Sprintf("%d %s", i, payload))
		line := lc.expectFunc("echo or refusal", func(l string) bool {
			return strings.HasPrefix(l, fmt.Sprintf("#lobby <filler> %d ", i)) || strings.Contains(l, "could not be stored")
		})
		if strings.Contains(line, "could not be stored") {
			refused++
		}
	}
	if refused == 0 {
		t.Fatalf("%d messages fit on a 600 kB disk", maxMessages)
	}
	if code, body := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "fail store") {
		t.Fatalf("/readyz while the disk is full: %d %q, want 503 with a failing store", code, body)
	}
	const more = 300
	for i := 0; i < more; i++ {
		lc.send(fmt.Sprintf("more %d %s", i, payload))
		lc.expect("could not be stored")
	}
	if code, _ := readyz(); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz after %d more refusals: %d, want 503", more, code)
	}

	// Make room, from inside the server's mount namespace.
	grow := exec.Command("nsenter", "--target", strconv.Itoa(p.cmd.Process.Pid), "--mount", "mount", "-o", "remount,size=5m", tiny)
	if out, err := grow.CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz once there is room again: %d %s", code, body)
	}
	lc.send("stored again")
	lc.expect("#lobby <filler> stored again")

	if err := p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	logged := 0
	for len(p.logs) > 0 {
		if rec := <-p.logs; rec["msg"] == "store message" {
			logged++
		}
	}
	t.Logf("%d refusals, %d store error lines logged", more+refused, logged)
	if logged > 3 {
		t.Errorf("%d refused messages gave %d store error lines, want the repeats held back", more+refused, logged)
	}
}
