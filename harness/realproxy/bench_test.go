package realproxy_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/container"
	"github.com/sipnatlab/sipnatlab/harness/realproxy"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
)

// fixtureFor is the Kamailio fixture that behaves as an in-process proxy with
// nat-handling h does.
func fixtureFor(h proxy.Handling) string {
	switch h {
	case proxy.HandlingCorrect:
		return "correct.cfg"
	case proxy.HandlingExcessive:
		return "excessive.cfg"
	}
	return "none.cfg"
}

// allKamailio loads a seed scenario at t1: 50ms with real Kamailio, running the
// fixture of its nat-handling, as every proxy.
func allKamailio(tb testing.TB, file string) (*scenario.Scenario, map[string]harness.Container) {
	s, err := scenario.Load(filepath.Join(root, "scenarios", file))
	if err != nil {
		tb.Fatal(err)
	}
	s = s.Scaled(50 * time.Millisecond.Seconds() / s.Timers.T1.Seconds())
	specs := map[string]harness.Container{}
	for _, h := range s.Hosts {
		if h.Role == scenario.RoleProxy {
			specs[h.Name] = harness.Container{Engine: scenario.EngineKamailio, Config: filepath.Join(root, "fixtures", "kamailio", fixtureFor(h.NATHandling))}
		}
	}
	return s, specs
}

// BenchmarkSeedCasesAllKamailio runs the three seed cases at once, each with real
// Kamailio as every proxy (four containers in all) at t1: 50ms: one op is the three
// runs, from the first container's start to the last one's removal, and reports
// its wall time in s/op. Each run must give the in-process verdict. Issue 14's
// goal: under 15 s on a 2-core machine.
func BenchmarkSeedCasesAllKamailio(b *testing.B) {
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		b.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	ctx := context.Background()
	if err := container.DockerAvailable(ctx); err != nil {
		b.Skip(err)
	}
	if ok, _ := container.ImagePresent(ctx, container.KamailioImage); !ok {
		b.Skip("no local image " + container.KamailioImage + ": make image")
	}
	files := []string{"no-nat-handling.yaml", "excessive-nat-handling.yaml", "correct-nat-handling.yaml"}
	var wall time.Duration
	for b.Loop() {
		start := time.Now()
		var wg sync.WaitGroup
		for _, f := range files {
			wg.Go(func() {
				s, specs := allKamailio(b, f)
				res, err := harness.Run(ctx, s, harness.Options{Proxies: realproxy.Docker{}, Containers: specs})
				if err != nil {
					b.Error(f, err)
					return
				}
				if !res.Passed {
					b.Errorf("%s with Kamailio as every proxy: %+v\n%s", f, res.Expectations, res.Call(0).Diagnosis)
				}
			})
		}
		wg.Wait()
		wall += time.Since(start)
	}
	b.ReportMetric(wall.Seconds()/float64(b.N), "s/op")
}
