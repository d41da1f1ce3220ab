package sim_test

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"

	"github.com/sipnatlab/sipnatlab/sim"
)

func TestSim(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "sim")
}

// The fabric owns no goroutines: whatever runs at the end of the suite ran before it.
var ginkgoGoroutines goleak.Option

var _ = BeforeSuite(func() { ginkgoGoroutines = goleak.IgnoreCurrent() })

var _ = AfterSuite(func() {
	Expect(goleak.Find(ginkgoGoroutines,
		// Under ginkgo -p, Ginkgo's output interceptor starts its copiers per node.
		goleak.IgnoreAnyFunction("github.com/onsi/ginkgo/v2/internal.(*genericOutputInterceptor).ResumeIntercepting.func1"),
		goleak.IgnoreAnyFunction("github.com/onsi/ginkgo/v2/internal.(*genericOutputInterceptor).ResumeIntercepting.func1.1"),
	)).To(Succeed())
})

var (
	t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	homePublic = netip.MustParseAddr("203.0.113.50")
	homeLAN    = netip.MustParsePrefix("192.168.1.0/24")
	aliceAddr  = netip.MustParseAddr("192.168.1.10")
	bobAddr    = netip.MustParseAddr("192.168.1.11")
	proxyAddr  = netip.MustParseAddr("203.0.113.2")
	carrAddr   = netip.MustParseAddr("198.51.100.10")
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// fakeClock is a Clock whose time moves only when a test advances it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) AfterFunc(time.Duration, func()) sim.Timer { return stoppedTimer{} }

type stoppedTimer struct{}

func (stoppedTimer) Stop() bool { return false }

// world is the test topology:
//
//	alice 192.168.1.10, bob 192.168.1.11 ── home-nat 203.0.113.50 ── proxy 203.0.113.2, carrier 198.51.100.10
type world struct {
	net                   *sim.Network
	clock                 *fakeClock
	nat                   *sim.NAT
	alice, bob, proxy, cr *sim.Host
}

// carriers are the carriers that specs of shared behaviour run over.
var carriers = []sim.CarrierKind{sim.Loopback, sim.Memory}

// newWorld builds the test topology over the loopback carrier.
func newWorld(cfg sim.NATConfig) *world {
	GinkgoHelper()
	return newWorldOn(sim.Loopback, cfg)
}

// newWorldOn builds the test topology over the given carrier.
func newWorldOn(kind sim.CarrierKind, cfg sim.NATConfig) *world {
	GinkgoHelper()
	w := &world{clock: &fakeClock{now: t0}}
	w.net = sim.NewNetwork(sim.Config{Clock: w.clock, Carrier: kind})
	DeferCleanup(w.net.Close)
	cfg.Name, cfg.Public, cfg.LAN = "home-nat", homePublic, homeLAN
	var err error
	w.nat, err = w.net.AddNAT(cfg)
	Expect(err).NotTo(HaveOccurred())
	w.alice = must(w.net.AddHost("alice", aliceAddr))
	w.bob = must(w.net.AddHost("bob", bobAddr))
	w.proxy = must(w.net.AddHost("proxy", proxyAddr))
	w.cr = must(w.net.AddHost("carrier", carrAddr))
	return w
}

func must[T any](v T, err error) T {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return v
}

func listen(h *sim.Host, port uint16) *sim.Conn {
	GinkgoHelper()
	c := must(h.ListenPacket(port))
	DeferCleanup(c.Close)
	return c
}

func send(c *sim.Conn, dst netip.AddrPort, msg string) {
	GinkgoHelper()
	n, err := c.WriteToAddrPort([]byte(msg), dst)
	Expect(err).NotTo(HaveOccurred())
	Expect(n).To(Equal(len(msg)))
}

// recv reads one datagram; the deadline only bounds a failing test.
func recv(c *sim.Conn) (string, netip.AddrPort) {
	GinkgoHelper()
	Expect(c.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
	buf := make([]byte, 2048)
	n, from, err := c.ReadFrom(buf)
	Expect(err).NotTo(HaveOccurred())
	return string(buf[:n]), from.(interface{ AddrPort() netip.AddrPort }).AddrPort()
}

// carried counts the datagrams the carrier was handed, whichever carrier it is.
func carried(s sim.Stats) int64 { return s.RealSent + s.MemorySent }

// carriedStats is the Stats of a network on carrier kind that handed n datagrams to it.
func carriedStats(kind sim.CarrierKind, n int64, s sim.Stats) sim.Stats {
	if kind == sim.Memory {
		s.MemorySent = n
	} else {
		s.RealSent = n
	}
	return s
}

// last returns the last record of the capture.
func last(n *sim.Network) sim.Record {
	GinkgoHelper()
	rs := n.Capture().Records()
	Expect(rs).NotTo(BeEmpty())
	return rs[len(rs)-1]
}

// kinds returns the kinds of every record of datagram id.
func kinds(n *sim.Network, id int) []sim.Kind {
	var out []sim.Kind
	for _, r := range n.Capture().Records() {
		if r.Datagram == id {
			out = append(out, r.Kind)
		}
	}
	return out
}
