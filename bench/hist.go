//go:build linux

package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// subBucketBits sets the histogram's precision: each power of two is split
// into 2^subBucketBits linear buckets, so a recorded value is reported with a
// relative error below 1/64 (1.6 %).
const subBucketBits = 6

const (
	subBuckets = 1 << subBucketBits
	// histBuckets covers every non-negative int64 nanosecond value.
	histBuckets = (64 - subBucketBits + 1) * subBuckets
)

// histogram is a log-linear latency histogram in nanoseconds, in the spirit
// of HdrHistogram. record is safe to call from many goroutines at once; it
// never allocates. Reads (count, quantile, max) are meant for after the
// recording goroutines have finished, but are safe at any time.
type histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	maxNs  atomic.Int64
	sumNs  atomic.Int64
}

// bucketOf maps a value to its bucket: values below subBuckets get a bucket
// each; above, the top subBucketBits+1 significant bits select the bucket.
func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	if u < subBuckets {
		return int(u)
	}
	exp := bits.Len64(u) - subBucketBits - 1 // shift that leaves subBucketBits+1 bits
	return (exp+1)*subBuckets + int(u>>uint(exp)) - subBuckets
}

// bucketHigh is the largest value that falls into bucket b.
func bucketHigh(b int) int64 {
	if b < subBuckets {
		return int64(b)
	}
	exp := b/subBuckets - 1
	mant := uint64(b%subBuckets + subBuckets)
	high := (mant+1)<<uint(exp) - 1
	if high > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(high)
}

// record adds one observation.
func (h *histogram) record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	h.sumNs.Add(v)
	for {
		cur := h.maxNs.Load()
		if v <= cur || h.maxNs.CompareAndSwap(cur, v) {
			return
		}
	}
}

// count is the number of observations.
func (h *histogram) count() uint64 { return h.total.Load() }

// max is the largest observation, exact.
func (h *histogram) max() time.Duration { return time.Duration(h.maxNs.Load()) }

// mean is the average observation, exact.
func (h *histogram) mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sumNs.Load() / int64(n))
}

// quantile returns the value below or at which a fraction q (0..1) of the
// observations fall: the upper bound of the bucket holding the
// ceil(q*count)-th smallest observation, never above the exact maximum.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for b := range h.counts {
		seen += h.counts[b].Load()
		if seen >= rank {
			return min(time.Duration(bucketHigh(b)), h.max())
		}
	}
	return h.max()
}

// latencySummary is the JSON form of a histogram, in milliseconds.
type latencySummary struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// summary reads the usual percentiles.
func (h *histogram) summary() latencySummary {
	return latencySummary{
		Count:  h.count(),
		MeanMs: ms(h.mean()),
		P50Ms:  ms(h.quantile(0.50)),
		P90Ms:  ms(h.quantile(0.90)),
		P99Ms:  ms(h.quantile(0.99)),
		P999Ms: ms(h.quantile(0.999)),
		MaxMs:  ms(h.max()),
	}
}
