package realproxy_test

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
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
	// The pitfall catalogue, where a proxy's script decides the outcome: without
	// force_rport() bob's replies die at his NAT; correct.cfg forces rport.
	{"no-rport.yaml", "proxy", "no-rport.cfg", 0.1},
	{"no-rport-forced.yaml", "proxy", "correct.cfg", 1},
	{"registration-fixed.yaml", "proxy", "correct.cfg", 1},
	// A proxy on a LAN behind a port forward (its container at the private
	// address, outside hosts through the fabric's NAT): without advertise its
	// Record-Route names 10.0.0.2 and alice's ACK dies at alice; with it the ACK
	// comes back through the forward.
	{"proxy-behind-nat.yaml", "proxy", "behind-nat.cfg", 0.1},
	{"proxy-behind-nat-advertise.yaml", "proxy", "behind-nat-advertise.cfg", 1},
}

// slowAgreements are the rows that wait on a real proxy's own timer, left to
// make test-slow (label slow). Without fix_nated_register() the INVITE goes
// to bob's private Contact. A real proxy has no route there (nothing enters
// the capture) and answers 408 on its own timer (about 30 s), so these keep
// the file's timers: the call step's bound (70 s) outlasts it.
var slowAgreements = []agreement{
	{"registration-not-fixed.yaml", "proxy", "registration-not-fixed.cfg", 1},
}

var _ = Describe("the seed scenarios with a real proxy in place of an in-process one", Label("container"), func() {
	describeAgreements(agreements)
})

var _ = Describe("the seed scenarios with a real proxy in place of an in-process one, at the proxy's own timers", Label("container", "slow"), func() {
	describeAgreements(slowAgreements)
})

// describeAgreements specifies the cases for each engine, each engine's in
// its own Ordered container, so two Ginkgo processes run them side by side;
// the image function gates the engine's specs and names its image.
func describeAgreements(agreements []agreement) {
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
}

var _ = Describe("a scenario that names engines for several hosts", Label("container"), func() {
	It("runs every one real, at its scenario address, to the in-process verdict", func(ctx SpecContext) {
		requireDocker(ctx)
		s, err := scenario.Load(filepath.Join(root, "fixtures", "kamailio", "scenarios", "chain-with-kamailio.yaml"))
		Expect(err).NotTo(HaveOccurred())
		real, err := harness.Run(ctx, s, harness.Options{Proxies: realproxy.Docker{}})
		Expect(err).NotTo(HaveOccurred())
		Expect(real.Real).To(Equal(map[string]string{"proxy-a": "203.0.113.1:5060", "proxy-b": "203.0.113.2:5060"}))
		Expect(real.ProxyLogs).To(HaveKey("proxy-a"))
		Expect(real.ProxyLogs).To(HaveKey("proxy-b"))
		simulated, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
		Expect(err).NotTo(HaveOccurred())
		Expect(factsOf(real)).To(Equal(factsOf(simulated)))
		Expect(real.Passed).To(BeTrue(), "%+v", real.Expectations)
	}, NodeTimeout(3*time.Minute))
})

var _ = Describe("a scenario with a host on an address of the Internet", Label("container"), func() {
	It("runs with that host mapped to a benchmarking address, and says so", func(ctx SpecContext) {
		requireDocker(ctx)
		s, err := scenario.Load(filepath.Join(root, "scenarios", "correct-nat-handling.yaml"))
		Expect(err).NotTo(HaveOccurred())
		c := *s
		c.Hosts = slices.Clone(s.Hosts)
		for i := range c.Hosts {
			if c.Hosts[i].Name == "alice" {
				c.Hosts[i].Address = netip.MustParseAddrPort("8.8.8.8:5060")
			}
		}
		res, err := harness.Run(ctx, &c, harness.Options{Proxies: realproxy.Docker{}, Containers: map[string]harness.Container{
			"proxy-b": {Engine: scenario.EngineKamailio, Config: filepath.Join(root, "fixtures", "kamailio", "correct.cfg")},
		}})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Real).To(HaveKeyWithValue("alice", MatchRegexp(`^198\.18\.0\.\d+:5060 \(mapped from 8\.8\.8\.8:5060, which is no private, shared, benchmarking or documentation address\)$`)))
		Expect(res.Real).To(HaveKeyWithValue("proxy-b", "203.0.113.2:5060"))
		Expect(res.Call(0).ACKAtCallee).To(BeTrue())
		Expect(res.Passed).To(BeTrue(), "%+v", res.Expectations)
	}, NodeTimeout(3*time.Minute))
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
