package realproxy_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/realproxy"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sipnattest/dockersuite"
)

const root = "../.."

func requireDocker(ctx context.Context) {
	dockersuite.RequireKamailio(ctx, filepath.Join(root, "scripts", "build-kamailio-image.sh"))
}

// facts is what must agree between an in-process proxy and a real one.
type facts struct {
	ACKAtCallee bool
	CalleeBYE   bool
	Blame       string
	ACKLostAt   string
}

func factsOf(res *harness.Result) facts {
	c := res.Call(0)
	return facts{c.ACKAtCallee, c.CalleeBYE, c.Blame, c.ACKLostAt}
}

// agreement is one row of the README's agreement table: a seed scenario
// with one proxy replaced by a real one running a fixture config, its timers
// scaled by scale. The lost-ACK cases time nothing but the callee's 64*T1
// wait, so they run at a tenth (3.2 s). The correct cases expect the ACK
// within 1*T1 through a container while other containers start beside
// them: at half of RFC 3261's T1 (250 ms) one ACK was seen later than that
// with the other core busy, so they keep the RFC's timers, and last as long
// (about 3 s of talk and wait).
type agreement struct {
	file, host, config string
	scale              float64
}

var agreements = []agreement{
	{"no-nat-handling.yaml", "proxy-b", "none.cfg", 0.1},
	{"excessive-nat-handling.yaml", "proxy-b", "correct.cfg", 0.1},
	{"excessive-nat-handling.yaml", "proxy-a", "excessive.cfg", 0.1},
	{"correct-nat-handling.yaml", "proxy-b", "correct.cfg", 1},
	{"correct-nat-handling.yaml", "proxy-a", "correct.cfg", 1},
}

// The same five cases for each engine, each engine's in its own Ordered
// container, so two Ginkgo processes run them side by side; the image
// function gates the engine's specs and names its image.
var _ = Describe("the seed scenarios with a real proxy in place of an in-process one", Label("container"), func() {
	engines := []struct {
		engine scenario.Engine
		image  func(ctx context.Context) string
	}{
		{scenario.EngineKamailio, func(ctx context.Context) string { requireDocker(ctx); return "" }},
		{scenario.EngineOpenSIPS, func(ctx context.Context) string { return dockersuite.RequireOpenSIPS(ctx, root) }},
	}
	for _, e := range engines {
		Describe(string(e.engine), Ordered, func() {
			type pair struct {
				inProcess, real *harness.Result
				err             error
			}
			results := make([]pair, len(agreements))

			BeforeAll(func(ctx SpecContext) {
				img := e.image(ctx)
				// Each case gets its own internal network and container, so they run
				// concurrently.
				var wg sync.WaitGroup
				for i, a := range agreements {
					wg.Go(func() {
						s, err := scenario.Load(filepath.Join(root, "scenarios", a.file))
						if err != nil {
							results[i].err = err
							return
						}
						s = s.Scaled(a.scale)
						if results[i].inProcess, err = harness.Run(ctx, s, harness.Options{Clock: harness.Simulated}); err != nil {
							results[i].err = err
							return
						}
						results[i].real, results[i].err = harness.Run(ctx, s, harness.Options{Proxies: realproxy.Docker{}, Containers: map[string]harness.Container{
							a.host: {Engine: e.engine, Image: img, Config: filepath.Join(root, "fixtures", string(e.engine), a.config)},
						}})
					})
				}
				wg.Wait()
			}, NodeTimeout(15*time.Minute))

			for i, a := range agreements {
				It(fmt.Sprintf("%s with %s as %s %s: same ACK delivery, callee BYE, lost-at hop and blame", a.file, a.host, e.engine, a.config), func() {
					r := results[i]
					Expect(r.err).NotTo(HaveOccurred())
					Expect(r.real.Real).To(HaveKey(a.host))
					Expect(factsOf(r.real)).To(Equal(factsOf(r.inProcess)), "%s\n%s", r.real.Call(0).Diagnosis, r.real.ProxyLogs)
					Expect(r.real.Passed).To(BeTrue(), "%+v", r.real.Expectations)
				})
			}

			It("leaves no container or network (and so no bridge address) behind", func(ctx SpecContext) {
				// Only this process's: other test packages may run proxies meanwhile.
				mine := "label=org.sipnatlab.owner=" + realproxy.Owner()
				out, err := exec.CommandContext(ctx, "docker", "ps", "-aq", "--filter", mine).Output()
				Expect(err).NotTo(HaveOccurred())
				Expect(strings.TrimSpace(string(out))).To(BeEmpty())
				out, err = exec.CommandContext(ctx, "docker", "network", "ls", "-q", "--filter", mine).Output()
				Expect(err).NotTo(HaveOccurred())
				Expect(strings.TrimSpace(string(out))).To(BeEmpty())
				// The addresses a run adds to its network's bridge go with the bridge.
			})
		})
	}
})

var _ = Describe("a scenario that names its engine", Label("container"), func() {
	It("runs with the real proxy in real time and with the in-process stand-in in simulated time, to the same verdict", func(ctx SpecContext) {
		requireDocker(ctx)
		s, err := scenario.Load(filepath.Join("..", "..", "fixtures", "kamailio", "scenarios", "excessive-with-kamailio.yaml"))
		Expect(err).NotTo(HaveOccurred())
		// Half the file's timers (T1 50 ms): the callee gives up after 3.2 s.
		s = s.Scaled(0.5)
		real, err := harness.Run(ctx, s, harness.Options{Proxies: realproxy.Docker{}})
		Expect(err).NotTo(HaveOccurred())
		Expect(real.Real).To(HaveKey("proxy-b"))
		simulated, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
		Expect(err).NotTo(HaveOccurred())
		Expect(simulated.Real).To(BeNil())
		Expect(factsOf(real)).To(Equal(factsOf(simulated)))
		Expect(real.Passed).To(BeTrue(), "%+v", real.Expectations)
	}, NodeTimeout(5*time.Minute))
})
