package matrix_test

import (
	"context"
	"path/filepath"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/matrix"
	"github.com/sipnatlab/sipnatlab/harness/realproxy"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sipnattest/dockersuite"
)

// pool counts the real proxies up at once: the most is how many cells ran side by side.
type pool struct {
	inner harness.Proxies
	mu    sync.Mutex
	up    int
	most  int
}

func (p *pool) Start(ctx context.Context, s *scenario.Scenario, specs map[string]harness.Container) (harness.Started, error) {
	st, err := p.inner.Start(ctx, s, specs)
	if st == nil {
		return nil, err
	}
	p.mu.Lock()
	p.up++
	p.most = max(p.most, p.up)
	p.mu.Unlock()
	return &started{Started: st, pool: p}, err
}

type started struct {
	harness.Started
	pool *pool
	once sync.Once
}

func (s *started) Close() {
	s.Started.Close()
	s.once.Do(func() {
		s.pool.mu.Lock()
		s.pool.up--
		s.pool.mu.Unlock()
	})
}

// Logs passes on the proxies' output.
func (s *started) Logs() map[string]string {
	if lr, ok := s.Started.(harness.LogsReporter); ok {
		return lr.Logs()
	}
	return nil
}

// same is what must agree between a cell with the in-process proxy-b and with a real one
// (the facts the realproxy specs compare). Not the class: where the in-process proxy-b
// drops an ACK for a private address with a typed cause, Kamailio sends it into its
// internal network, where the capture does not see it die (ack-lost).
type same struct {
	Name             string
	ACK, BYE, Passed bool
	LostAt, Blame    string
}

func sameOf(r *matrix.Report) []same {
	var out []same
	for _, c := range r.Cells {
		out = append(out, same{c.Name, c.ACKAtCallee, c.CalleeBYE, c.Passed, c.ACKLostAt, c.Blame})
	}
	return out
}

// About a minute of cells in real time: make test-slow.
var _ = Describe("the bundled template with real Kamailio as proxy-b", Label("container", "slow"), func() {
	DescribeTable("agrees with the in-process cells the config describes, two containers at once",
		func(ctx SpecContext, config string, only map[string][]string) {
			dockersuite.RequireKamailio(ctx, filepath.Join("../..", "scripts", "build-kamailio-image.sh"))
			t, err := matrix.Load(bundled)
			Expect(err).NotTo(HaveOccurred())
			sim, err := t.Run(ctx, matrix.Options{Only: only})
			Expect(err).NotTo(HaveOccurred())

			p := &pool{inner: realproxy.Docker{}}
			real, err := t.Run(ctx, matrix.Options{Only: only, Workers: 2, Run: harness.Options{
				Proxies:    p,
				Containers: map[string]harness.Container{"proxy-b": {Engine: scenario.EngineKamailio, Config: filepath.Join("../../fixtures/kamailio", config)}},
			}})
			Expect(err).NotTo(HaveOccurred())
			Expect(real.Clock).To(Equal("real"))
			for _, c := range real.Cells {
				Expect(c.Error).To(BeEmpty(), c.Name)
			}
			Expect(sameOf(real)).To(Equal(sameOf(sim)))
			Expect(real.Summary.Text).To(Equal(sim.Summary.Text))
			Expect(p.most).To(Equal(2), "the pool ran two containers at once")
			Expect(p.up).To(BeZero(), "every container was removed")
		},
		// correct.cfg Record-Routes and fixes a NATed callee's Contact: the in-process
		// proxy-b with nat-handling correct and record-route true. Every mapping and
		// filter lets its ACK in.
		Entry("correct.cfg, over the nine NAT behaviours and hairpinning", SpecTimeout(4*60e9), "correct.cfg",
			map[string][]string{"proxy-b": {"correct"}, "record-route": {"true"}}),
		// none.cfg leaves the private Contact: the ACK dies at proxy-b whatever the NAT.
		Entry("none.cfg, over the three filterings", SpecTimeout(3*60e9), "none.cfg",
			map[string][]string{"proxy-b": {"none"}, "record-route": {"true"}, "mapping": {"endpoint-independent"}, "hairpinning": {"false"}}),
	)
})
