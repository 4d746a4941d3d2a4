package main

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// The server's own delivery latency: its tertulia_delivery_latency_seconds
// histogram (publication of an event to its write to the client, one
// observation per write, by front-end), read from --metrics-url before and
// after the sending. Set beside the tool's send-to-receive figures it
// separates the server's part from the tool's own reading, which shares the
// machine's cores.

// latencyBucket is one cumulative bucket of a Prometheus histogram.
type latencyBucket struct {
	LE    float64 `json:"le"` // upper bound, seconds (+Inf for the last)
	Count float64 `json:"count"`
}

// serverLatency is the server's histogram over the sending, for one
// front-end.
type serverLatency struct {
	Writes float64 `json:"writes"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
}

const serverLatencyMetric = "tertulia_delivery_latency_seconds_bucket"

// parseLatencyBucket reads one line of the histogram's buckets:
// name{via="web",le="0.01"} 123.
func parseLatencyBucket(labels string, value float64) (via string, b latencyBucket, ok bool) {
	var le string
	for _, kv := range strings.Split(strings.Trim(labels, "{}"), ",") {
		k, v, found := strings.Cut(kv, "=")
		if !found {
			continue
		}
		v = strings.Trim(v, `"`)
		switch k {
		case "via":
			via = v
		case "le":
			le = v
		}
	}
	if via == "" || le == "" {
		return "", b, false
	}
	bound, err := strconv.ParseFloat(le, 64) // "+Inf" parses as infinity
	if err != nil {
		return "", b, false
	}
	return via, latencyBucket{LE: bound, Count: value}, true
}

// latencyBetween is the histogram's growth from before to after, by
// front-end, with its quantiles interpolated within buckets (as
// Prometheus's histogram_quantile does); front-ends with no writes are
// left out.
func latencyBetween(before, after map[string][]latencyBucket) map[string]serverLatency {
	out := map[string]serverLatency{}
	for via, bs := range after {
		prev := map[float64]float64{}
		for _, b := range before[via] {
			prev[b.LE] = b.Count
		}
		diff := make([]latencyBucket, 0, len(bs))
		for _, b := range bs {
			diff = append(diff, latencyBucket{LE: b.LE, Count: b.Count - prev[b.LE]})
		}
		sort.Slice(diff, func(i, j int) bool { return diff[i].LE < diff[j].LE })
		if len(diff) == 0 || diff[len(diff)-1].Count <= 0 {
			continue
		}
		out[via] = serverLatency{
			Writes: diff[len(diff)-1].Count,
			P50:    1000 * bucketQuantile(0.5, diff),
			P99:    1000 * bucketQuantile(0.99, diff),
		}
	}
	return out
}

// bucketQuantile is the q-quantile of cumulative buckets sorted by bound,
// linear within the bucket it falls in; in the last (+Inf) bucket, the
// bound below it.
func bucketQuantile(q float64, bs []latencyBucket) float64 {
	total := bs[len(bs)-1].Count
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range bs {
		if b.Count >= rank {
			if math.IsInf(b.LE, 1) || b.Count == below {
				return lower
			}
			return lower + (b.LE-lower)*(rank-below)/(b.Count-below)
		}
		lower, below = b.LE, b.Count
	}
	return lower
}
