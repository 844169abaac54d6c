//go:build linux

package main

import (
	"sync"
	"testing"
	"time"
)

func TestBucketsCoverValuesInOrder(t *testing.T) {
	t.Parallel()
	prev := -1
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 129, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1} {
		b := bucketOf(v)
		if b < prev {
			t.Errorf("bucketOf(%d) = %d, below the previous value's bucket %d", v, b, prev)
		}
		if b >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d, beyond %d buckets", v, b, histBuckets)
		}
		if high := bucketHigh(b); high < v {
			t.Errorf("bucketHigh(bucketOf(%d)) = %d, below the value", v, high)
		}
		if b > 0 && bucketHigh(b-1) >= v {
			t.Errorf("value %d also fits the bucket before its own (%d)", v, b-1)
		}
		prev = b
	}
}

func TestBucketPrecision(t *testing.T) {
	t.Parallel()
	for v := int64(1); v < 1<<40; v = v*3 + 7 {
		high := bucketHigh(bucketOf(v))
		if rel := float64(high-v) / float64(v); rel > 1.0/subBuckets {
			t.Errorf("value %d reported as %d: relative error %.4f above 1/%d", v, high, rel, subBuckets)
		}
	}
}

func TestQuantiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []time.Duration // recorded once each
		q      float64
		want   time.Duration // exact answer; the histogram may be up to 1/64 above
	}{
		{"median of 1..100 ms", msRange(1, 100), 0.5, 50 * time.Millisecond},
		{"p99 of 1..100 ms", msRange(1, 100), 0.99, 99 * time.Millisecond},
		{"p99.9 of 1..1000 ms", msRange(1, 1000), 0.999, 999 * time.Millisecond},
		{"p100 is the max", msRange(1, 10), 1, 10 * time.Millisecond},
		{"one value", []time.Duration{1234 * time.Microsecond}, 0.5, 1234 * time.Microsecond},
		{"p99.9 below one outlier in 1000", append(repeat(time.Millisecond, 999), 100*time.Millisecond), 0.999, time.Millisecond},
		{"p99.95 reaches the outlier", append(repeat(time.Millisecond, 999), 100*time.Millisecond), 0.9995, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var h histogram
			for _, v := range tt.values {
				h.record(v)
			}
			got := h.quantile(tt.q)
			if got < tt.want || float64(got-tt.want) > float64(tt.want)/subBuckets {
				t.Errorf("quantile(%v) = %v, want %v (within 1/%d above)", tt.q, got, tt.want, subBuckets)
			}
		})
	}
}

func TestHistogramExactMaxMeanAndEmpty(t *testing.T) {
	t.Parallel()
	var h histogram
	if h.quantile(0.99) != 0 || h.max() != 0 || h.mean() != 0 {
		t.Fatal("empty histogram reports non-zero values")
	}
	h.record(-5) // clock steps backwards count as zero
	h.record(3 * time.Millisecond)
	h.record(1001 * time.Microsecond)
	if h.max() != 3*time.Millisecond {
		t.Errorf("max = %v, want 3ms", h.max())
	}
	if want := (3*time.Millisecond + 1001*time.Microsecond) / 3; h.mean() != want {
		t.Errorf("mean = %v, want %v", h.mean(), want)
	}
	if got := h.quantile(1); got != h.max() {
		t.Errorf("quantile(1) = %v, want the exact max %v", got, h.max())
	}
}

func TestHistogramConcurrentRecord(t *testing.T) {
	t.Parallel()
	var h histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.record(time.Duration(g*1000+i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	if h.count() != 8000 {
		t.Fatalf("count = %d, want 8000", h.count())
	}
	if h.max() != 7999*time.Microsecond {
		t.Errorf("max = %v, want 7.999ms", h.max())
	}
}

func msRange(from, to int) []time.Duration {
	var v []time.Duration
	for i := from; i <= to; i++ {
		v = append(v, time.Duration(i)*time.Millisecond)
	}
	return v
}

func repeat(d time.Duration, n int) []time.Duration {
	v := make([]time.Duration, n)
	for i := range v {
		v[i] = d
	}
	return v
}
