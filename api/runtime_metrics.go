package api

import (
	"bytes"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
)

// runtimeSamples are read with runtime/metrics, which does not stop the
// world as runtime.ReadMemStats does.
var runtimeSamples = []struct{ name, metric, typ, help string }{
	{"go_goroutines", "/sched/goroutines:goroutines", "gauge", "Goroutines that currently exist."},
	{"go_heap_objects_bytes", "/memory/classes/heap/objects:bytes", "gauge", "Memory occupied by live and not yet swept heap objects."},
	{"go_heap_total_bytes", "/memory/classes/total:bytes", "gauge", "All memory mapped by the Go runtime."},
	{"go_heap_free_bytes", "/memory/classes/heap/free:bytes", "gauge", "Free heap memory the runtime has not yet returned to the operating system."},
	{"go_heap_released_bytes", "/memory/classes/heap/released:bytes", "gauge", "Free heap memory returned to the operating system."},
	{"go_heap_unused_bytes", "/memory/classes/heap/unused:bytes", "gauge", "Heap memory reserved for objects but not in use (fragmentation)."},
	{"go_stack_bytes", "/memory/classes/heap/stacks:bytes", "gauge", "Heap memory reserved for goroutine stacks."},
	{"go_gc_cycles_total", "/gc/cycles/total:gc-cycles", "counter", "Completed GC cycles."},
}

// writeRuntimeMetrics appends the Go runtime and process metrics that tell
// about leaks and cost: goroutines, heap, stacks, GC cycles, resident memory.
func writeRuntimeMetrics(b *bytes.Buffer) {
	samples := make([]rtmetrics.Sample, len(runtimeSamples))
	for i, s := range runtimeSamples {
		samples[i].Name = s.metric
	}
	rtmetrics.Read(samples)
	for i, s := range runtimeSamples {
		var v float64
		switch samples[i].Value.Kind() {
		case rtmetrics.KindUint64:
			v = float64(samples[i].Value.Uint64())
		case rtmetrics.KindFloat64:
			v = samples[i].Value.Float64()
		default:
			continue // not supported by this Go version
		}
		family(b, s.name, s.typ, s.help)
		sample(b, s.name, "", v)
	}
	family(b, "go_info", "gauge", "The Go version the server was built with.")
	sample(b, "go_info", `version="`+runtime.Version()+`"`, 1)
	if rss, ok := residentBytes(); ok {
		family(b, "process_resident_memory_bytes", "gauge", "Resident set size of the process.")
		sample(b, "process_resident_memory_bytes", "", float64(rss))
	}
}

// residentBytes reads the resident set size from /proc (Linux only).
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}
