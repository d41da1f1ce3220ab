package field_test

import (
	"context"
	"os"
	"runtime"
	"testing"

	"github.com/sipnatlab/sipnatlab/harness/field"
	"github.com/sipnatlab/sipnatlab/harness/judge"
)

// BenchmarkDiagnose diagnoses the capture $FIELD_BENCH_FILE (scripts/bench-diagnose.sh
// makes one from a load run) as sipnatlab diagnose does, handing every call out as it
// is judged (Options.OnCall), and reports the heap still live after it, with the
// Diagnosis kept: it follows the dialogs open at once, not the calls in the file.
// "kept" does the same keeping every call, as a library user without OnCall does.
func BenchmarkDiagnose(b *testing.B) {
	file := os.Getenv("FIELD_BENCH_FILE")
	if file == "" {
		b.Skip("FIELD_BENCH_FILE names no capture")
	}
	for _, stream := range []bool{true, false} {
		name := "streamed"
		if !stream {
			name = "kept"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				var o field.Options
				calls := 0
				if stream {
					o.OnCall = func(judge.CallFacts, field.CallEvidence) { calls++ }
				}
				d, err := field.Diagnose(context.Background(), []string{file}, o)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "live-MiB")
				b.ReportMetric(float64(d.Tally.Calls), "calls")
				b.ReportMetric(float64(d.MaxOpenDialogs), "max-open")
				runtime.KeepAlive(d)
			}
		})
	}
}
