package matrix_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/container"
	"github.com/sipnatlab/sipnatlab/harness/matrix"
	"github.com/sipnatlab/sipnatlab/harness/realproxy"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// benchMatrix runs the cells of the bundled template opts selects b.N times and reports
// cells/s; every cell must meet its expectations.
func benchMatrix(b *testing.B, opts matrix.Options) {
	t, err := matrix.Load(bundled)
	if err != nil {
		b.Fatal(err)
	}
	cells := 0
	start := time.Now()
	for b.Loop() {
		rep, err := t.Run(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.Passed {
			b.Fatalf("a cell missed its expectations: %s", rep.Summary.Text)
		}
		cells += len(rep.Cells)
	}
	b.ReportMetric(float64(cells)/time.Since(start).Seconds(), "cells/s")
}

// BenchmarkMatrixSimulated: the bundled template's 108 cells in simulated time, on as many
// workers as CPUs.
func BenchmarkMatrixSimulated(b *testing.B) { benchMatrix(b, matrix.Options{}) }

// BenchmarkMatrixSimulatedSerial: the same on one worker, the baseline of the speed-up.
func BenchmarkMatrixSimulatedSerial(b *testing.B) { benchMatrix(b, matrix.Options{Workers: 1}) }

// BenchmarkMatrixRealProxy: Kamailio (correct.cfg) as proxy-b in the 18 cells it describes
// (the nine NAT behaviours × hairpinning), two containers at once, each cell in real
// time with its own container. It needs Docker and the local image; without them it is
// skipped.
func BenchmarkMatrixRealProxy(b *testing.B) {
	ctx := context.Background()
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		b.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	if err := container.DockerAvailable(ctx); err != nil {
		b.Skip("no Docker: ", err)
	}
	if ok, err := container.ImagePresent(ctx, container.KamailioImage); err != nil || !ok {
		b.Skip("no local Kamailio image (make image)")
	}
	benchMatrix(b, matrix.Options{
		Only:    map[string][]string{"proxy-b": {"correct"}, "record-route": {"true"}},
		Workers: 2,
		Run: harness.Options{Proxies: realproxy.Docker{}, Containers: map[string]harness.Container{
			"proxy-b": {Engine: scenario.EngineKamailio, Config: "../../fixtures/kamailio/correct.cfg"}}},
	})
}
