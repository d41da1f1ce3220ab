package field_test

import (
	"context"
	"os"
	"runtime"
	"testing"

	"github.com/sipnatlab/sipnatlab/harness/field"
)

// BenchmarkDiagnose diagnoses the capture $FIELD_BENCH_FILE (scripts/bench-diagnose.sh
// makes one from a load run) and reports the heap still live after it, with the
// Diagnosis kept: what grows with the calls (one line of facts each) and what does not.
func BenchmarkDiagnose(b *testing.B) {
	file := os.Getenv("FIELD_BENCH_FILE")
	if file == "" {
		b.Skip("FIELD_BENCH_FILE names no capture")
	}
	for b.Loop() {
		d, err := field.Diagnose(context.Background(), []string{file}, field.Options{})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "live-MiB")
		b.ReportMetric(float64(len(d.Calls)), "calls")
		runtime.KeepAlive(d)
	}
}
