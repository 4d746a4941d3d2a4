package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procSample is the server's (or this tool's) resource use at one moment.
type procSample struct {
	At         time.Time `json:"at"`
	RSS        int64     `json:"rss_bytes"`   // resident memory
	CPU        float64   `json:"cpu_seconds"` // user+system since the process started
	Threads    int64     `json:"threads"`
	SlowDrops  float64   `json:"slow_client_drops,omitempty"` // from /metrics only
	HeapInuse  int64     `json:"heap_inuse_bytes,omitempty"`  // from /metrics only
	Goroutines int64     `json:"goroutines,omitempty"`        // from /metrics only
	// The server's delivery latency histogram by front-end (/metrics only).
	Latency map[string][]latencyBucket `json:"-"`
	OK      bool                       `json:"ok"`
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// readProc reads /proc/PID/stat and /proc/PID/status.
func readProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	s.CPU = (ut + st) / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			s.RSS = n << 10
		case "Threads":
			s.Threads = n
		}
	}
	s.OK = true
	return s, nil
}

// readMetrics reads the standard process series (and a few of Tertulia's)
// from a Prometheus text endpoint.
func readMetrics(ctx context.Context, url string) (procSample, error) {
	s := procSample{At: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return s, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("%s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		labels := ""
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name, labels = name[:i], name[i:]
		}
		v, err := strconv.ParseFloat(strings.Fields(val)[0], 64)
		if err != nil {
			continue
		}
		switch name {
		case serverLatencyMetric:
			if via, b, ok := parseLatencyBucket(labels, v); ok {
				if s.Latency == nil {
					s.Latency = map[string][]latencyBucket{}
				}
				s.Latency[via] = append(s.Latency[via], b)
			}
		case "process_resident_memory_bytes":
			s.RSS, found = int64(v), true
		case "process_cpu_seconds_total":
			s.CPU = v
		case "go_memstats_heap_inuse_bytes":
			s.HeapInuse = int64(v)
		case "go_goroutines":
			s.Goroutines = int64(v)
		case "go_threads":
			s.Threads = int64(v)
		case "tertulia_slow_client_drops_total":
			s.SlowDrops += v
		}
	}
	if !found {
		return s, fmt.Errorf("%s: no process_resident_memory_bytes", url)
	}
	s.OK = true
	return s, nil
}

// serverProbe samples the server by PID (preferred) or /metrics. With
// several PIDs (the nodes of a cluster) memory and CPU are summed; a node
// that is gone (killed) counts with what it used up to its last sample.
type serverProbe struct {
	pids       []int
	metricsURL string

	mu   sync.Mutex
	last map[int]procSample
}

func newServerProbe(pids []int, metricsURL string) *serverProbe {
	return &serverProbe{pids: pids, metricsURL: metricsURL, last: map[int]procSample{}}
}

func (p *serverProbe) enabled() bool { return len(p.pids) > 0 || p.metricsURL != "" }

func (p *serverProbe) sample(ctx context.Context) procSample {
	var s procSample
	if len(p.pids) > 0 {
		s = p.sumPIDs()
	}
	if p.metricsURL != "" {
		if ms, err := readMetrics(ctx, p.metricsURL); err == nil {
			if !s.OK {
				s = ms
			} else {
				s.SlowDrops, s.HeapInuse, s.Goroutines, s.Latency = ms.SlowDrops, ms.HeapInuse, ms.Goroutines, ms.Latency
			}
		}
	}
	return s
}

// sampleRSS is sample without /metrics when the PIDs can be read: the
// once-a-second watch of the peak memory must not add a scrape's CPU to the
// server's figures.
func (p *serverProbe) sampleRSS(ctx context.Context) procSample {
	if len(p.pids) > 0 {
		return p.sumPIDs()
	}
	return p.sample(ctx)
}

// sumPIDs reads every PID and sums them; OK once each has been read at
// least once.
func (p *serverProbe) sumPIDs() procSample {
	s := procSample{At: time.Now(), OK: true}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pid := range p.pids {
		ps, err := readProc(pid)
		if prev := p.last[pid]; err == nil && ps.CPU < prev.CPU {
			err = errors.New("gone") // a zombie's times may read 0
		}
		if err == nil {
			p.last[pid] = ps
		} else if ps = p.last[pid]; !ps.OK {
			return procSample{}
		} else {
			ps.RSS, ps.Threads = 0, 0 // gone: its CPU so far still counts
		}
		s.RSS += ps.RSS
		s.CPU += ps.CPU
		s.Threads += ps.Threads
	}
	return s
}

// machineCPU is the busy and total CPU time of the whole machine, in
// seconds summed over all cores, from /proc/stat.
type machineCPU struct {
	Busy, Total float64
	OK          bool
}

func readMachineCPU() machineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return machineCPU{}
	}
	var m machineCPU
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i >= 8 { // guest time is already counted in user time
			break
		}
		m.Total += n / clockTicks
		if i != 3 && i != 4 { // idle, iowait
			m.Busy += n / clockTicks
		}
	}
	m.OK = true
	return m
}

func selfSample() procSample {
	s, _ := readProc(os.Getpid())
	return s
}

// raiseFileLimit lifts RLIMIT_NOFILE to its hard limit: every connection is
// a file descriptor.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// serverFileLimit reads the server's open-files limit from /proc/PID/limits.
func serverFileLimit(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			f := strings.Fields(strings.TrimPrefix(line, "Max open files"))
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
