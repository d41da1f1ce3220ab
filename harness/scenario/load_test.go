package scenario_test

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/alg"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
)

// updateGolden rewrites testdata/bad/*.golden from the current errors:
// go test ./harness/scenario -run TestScenario -args -update-golden
var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/bad/*.golden")

var _ = Describe("Load", func() {
	Describe("the bundled scenarios", func() {
		topology := func(s *scenario.Scenario) {
			GinkgoHelper()
			Expect(s.Timers).To(Equal(scenario.Timers{T1: 500 * time.Millisecond, T2: 4 * time.Second}))
			Expect(s.NATs).To(Equal([]scenario.NAT{{
				Name:           "home-nat",
				Public:         netip.MustParseAddr("203.0.113.50"),
				LAN:            netip.MustParsePrefix("192.168.1.0/24"),
				Mapping:        sim.EndpointIndependent,
				Filtering:      sim.AddressAndPortDependent,
				BindingTimeout: 120 * time.Second,
				Hairpinning:    false,
				PortAllocation: sim.SequentialPorts,
				SIPALG:         alg.None,
				Line:           s.NATs[0].Line,
			}}))
			var names []string
			for _, h := range s.Hosts {
				names = append(names, h.Name)
			}
			Expect(names).To(Equal([]string{"alice", "proxy-a", "proxy-b", "bob"}))

			alice, _ := s.Host("alice")
			Expect(alice.Role).To(Equal(scenario.RoleUA))
			Expect(alice.Address).To(Equal(netip.MustParseAddrPort("198.51.100.10:5060")))
			Expect(alice.NAT).To(BeEmpty())
			Expect(alice.AckTimeout).To(Equal(32 * time.Second))

			proxyA, _ := s.Host("proxy-a")
			Expect(proxyA.Role).To(Equal(scenario.RoleProxy))
			Expect(proxyA.Address).To(Equal(netip.MustParseAddrPort("203.0.113.1:5060")))
			Expect(proxyA.NextHop).To(Equal("proxy-b"))
			Expect(proxyA.Registrar).To(BeFalse())
			Expect(proxyA.RecordRoute).To(BeTrue())

			proxyB, _ := s.Host("proxy-b")
			Expect(proxyB.Address).To(Equal(netip.MustParseAddrPort("203.0.113.2:5060")))
			Expect(proxyB.NextHop).To(BeEmpty())
			Expect(proxyB.Registrar).To(BeTrue())

			bob, _ := s.Host("bob")
			Expect(bob.Role).To(Equal(scenario.RoleUA))
			Expect(bob.Address).To(Equal(netip.MustParseAddrPort("192.168.1.10:5060")))
			Expect(bob.NAT).To(Equal("home-nat"))
			Expect(bob.RegisterWith).To(Equal("proxy-b"))
			Expect(bob.RegisterExpires).To(Equal(3600 * time.Second))

			Expect(s.Steps).To(HaveLen(3))
			Expect(s.Steps[0]).To(Equal(scenario.Step{Kind: scenario.StepRegister, UA: "bob", Line: s.Steps[0].Line}))
			Expect(s.Steps[1]).To(Equal(scenario.Step{Kind: scenario.StepCall, From: "alice", To: "bob", Via: "proxy-a",
				Talk: 2 * time.Second, Count: 1, Concurrency: 1, Line: s.Steps[1].Line}))
			Expect(s.Steps[2]).To(Equal(scenario.Step{Kind: scenario.StepWait, Wait: time.Second, Line: s.Steps[2].Line}))
			Expect(s.Summary).NotTo(BeEmpty())
			Expect(s.Lesson).NotTo(BeEmpty())
		}

		type want struct {
			key      string
			value    string
			boolean  *bool
			duration time.Duration
			host     string
		}
		yes, no := true, false
		expectations := func(s *scenario.Scenario) []want {
			var out []want
			for _, x := range s.Expect {
				out = append(out, want{x.Key, x.Want, x.Bool, x.Duration, x.Host})
			}
			return out
		}

		DescribeTable("load with the shared topology",
			func(file string, handlingA, handlingB proxy.Handling, expect []want) {
				s, err := scenario.Load(filepath.Join("..", "..", "scenarios", file))
				Expect(err).NotTo(HaveOccurred())
				Expect(s.Name + ".yaml").To(Equal(file))
				topology(s)
				proxyA, _ := s.Host("proxy-a")
				proxyB, _ := s.Host("proxy-b")
				Expect(proxyA.NATHandling).To(Equal(handlingA))
				Expect(proxyB.NATHandling).To(Equal(handlingB))
				Expect(expectations(s)).To(Equal(expect))
			},
			Entry(nil, "no-nat-handling.yaml", proxy.HandlingNone, proxy.HandlingNone, []want{
				{key: "ack-at-callee", value: "false", boolean: &no},
				{key: "callee-bye", value: "true", boolean: &yes},
				{key: "blame", value: "proxy-b", host: "proxy-b"},
			}),
			Entry(nil, "excessive-nat-handling.yaml", proxy.HandlingExcessive, proxy.HandlingCorrect, []want{
				{key: "ack-at-callee", value: "false", boolean: &no},
				{key: "callee-bye", value: "true", boolean: &yes},
				{key: "blame", value: "proxy-a", host: "proxy-a"},
			}),
			Entry(nil, "correct-nat-handling.yaml", proxy.HandlingCorrect, proxy.HandlingCorrect, []want{
				{key: "ack-at-callee", value: "true", boolean: &yes},
				{key: "ack-within", value: "1*T1", duration: 500 * time.Millisecond},
				{key: "callee-bye", value: "false", boolean: &no},
				{key: "blame", value: "none"},
			}),
		)

		It("loads the whole directory in file-name order", func() {
			all, err := scenario.LoadDir(filepath.Join("..", "..", "scenarios"))
			Expect(err).NotTo(HaveOccurred())
			var names, files []string
			for _, s := range all {
				names = append(names, s.Name)
				files = append(files, s.File)
			}
			Expect(names).To(ContainElements("correct-nat-handling", "excessive-nat-handling", "no-nat-handling"))
			Expect(slices.IsSorted(files)).To(BeTrue(), "%v", files)
		})
	})

	Describe("defaults and value forms", func() {
		const minimal = `
name: minimal
hosts:
  alice: {role: ua, address: 198.51.100.10}
  bob: {role: ua, address: "198.51.100.20:5080", ack-timeout: 0.5*T1}
  proxy: {role: proxy, address: 203.0.113.1}
steps:
  - call: {from: alice, to: bob, via: proxy}
`
		It("fills in every default", func() {
			s, err := scenario.Parse("minimal.yaml", []byte(minimal))
			Expect(err).NotTo(HaveOccurred())
			Expect(s.File).To(Equal("minimal.yaml"))
			Expect(s.Timers).To(Equal(scenario.Timers{T1: endpoint.DefaultT1, T2: endpoint.DefaultT2}))
			Expect(s.NATs).To(BeEmpty())
			Expect(s.Expect).To(BeEmpty())
			bob, _ := s.Host("bob")
			Expect(bob.Address).To(Equal(netip.MustParseAddrPort("198.51.100.20:5080")))
			Expect(bob.AckTimeout).To(Equal(250 * time.Millisecond))
			p, _ := s.Host("proxy")
			Expect(p.NATHandling).To(Equal(proxy.HandlingNone))
			Expect(p.RecordRoute).To(BeTrue())
			Expect(s.Steps[0].Talk).To(Equal(scenario.DefaultTalk))
		})

		It("resolves T1 multiples with the scenario's T1", func() {
			s, err := scenario.Parse("t1.yaml", []byte(strings.Replace(minimal, "name: minimal", "name: t1\ntimers: {t1: 100ms}", 1)+
				"expect: {ack-within: 64*T1}\n"))
			Expect(err).NotTo(HaveOccurred())
			alice, _ := s.Host("alice")
			Expect(alice.AckTimeout).To(Equal(6400 * time.Millisecond))
			Expect(s.Expect[0].Duration).To(Equal(6400 * time.Millisecond))
		})

		It("defaults via to the caller's registrar", func() {
			s, err := scenario.Load(filepath.Join("..", "..", "scenarios", "no-nat-handling.yaml"))
			Expect(err).NotTo(HaveOccurred())
			data, err := os.ReadFile(s.File)
			Expect(err).NotTo(HaveOccurred())
			text := strings.Replace(string(data), "from: alice, to: bob, via: proxy-a", "from: bob, to: alice", 1)
			s, err = scenario.Parse("reverse.yaml", []byte(text))
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Steps[1].Via).To(Equal("proxy-b"))
		})
	})

	// A real proxy behind a NAT is valid where the NAT forwards a port to it (the
	// fabric translates), and the loader's error where it does not.
	Describe("a real proxy behind a NAT", func() {
		withEngine := func() string {
			data, err := os.ReadFile(filepath.Join("..", "..", "scenarios", "proxy-behind-nat.yaml"))
			Expect(err).NotTo(HaveOccurred())
			cfg, err := filepath.Abs(filepath.Join("..", "..", "fixtures", "kamailio", "behind-nat.cfg"))
			Expect(err).NotTo(HaveOccurred())
			text := strings.Replace(string(data), "    registrar: true\n", "    registrar: true\n    engine: kamailio\n    config: "+cfg+"\n", 1)
			Expect(text).NotTo(Equal(string(data)))
			return text
		}

		It("loads when the NAT forwards a port to it", func() {
			s, err := scenario.Parse("forwarded.yaml", []byte(withEngine()))
			Expect(err).NotTo(HaveOccurred())
			p, _ := s.Host("proxy")
			Expect(p.Engine).To(Equal(scenario.EngineKamailio))
			Expect(p.NAT).To(Equal("office-nat"))
			Expect(s.RealProxyBehindNAT(p, p.Engine)).To(BeEmpty())
		})

		It("is refused at its address when the NAT forwards nothing to it", func() {
			text := strings.Replace(withEngine(), "    forwards: {5060: proxy}", "", 1)
			_, err := scenario.Parse("unforwarded.yaml", []byte(text))
			Expect(err).To(MatchError(ContainSubstring("hosts.proxy.address: a real proxy (engine kamailio) cannot sit behind NAT office-nat, which forwards no port to it; forward one (forwards: {5060: proxy} on office-nat) or give proxy a public address")))
		})
	})

	Describe("invalid files", func() {
		files, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
		var entries []TableEntry
		for _, f := range files {
			entries = append(entries, Entry(filepath.Base(f), f))
		}

		It("has a broken file for every kind of mistake", func() {
			Expect(len(files)).To(BeNumerically(">=", 15))
		})

		DescribeTable("are rejected with the error in their .golden file",
			func(file string) {
				_, err := scenario.Load(file)
				Expect(err).To(HaveOccurred())
				Expect(errors.Is(err, scenario.ErrInvalid)).To(BeTrue(), "%v does not wrap ErrInvalid", err)
				golden := strings.TrimSuffix(file, ".yaml") + ".golden"
				if *updateGolden {
					Expect(os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644)).To(Succeed())
				}
				want, rerr := os.ReadFile(golden)
				Expect(rerr).NotTo(HaveOccurred())
				Expect(err.Error()).To(Equal(strings.TrimSuffix(string(want), "\n")))
				Expect(err.Error()).To(HavePrefix(`load scenario "` + file + `": `))

				var le *scenario.LoadError
				Expect(errors.As(err, &le)).To(BeTrue())
				if le.Line > 0 {
					lines := strings.Count(readFile(file), "\n") + 1
					Expect(le.Line).To(BeNumerically("<=", lines))
				}
			},
			entries,
		)

		It("names the unreadable file without claiming it is invalid", func() {
			_, err := scenario.Load(filepath.Join("testdata", "no-such-file.yaml"))
			Expect(err).To(MatchError(os.ErrNotExist))
			Expect(errors.Is(err, scenario.ErrInvalid)).To(BeFalse())
		})

		It("rejects a directory whose scenarios share a name", func() {
			dir := GinkgoT().TempDir()
			data := readFile(filepath.Join("..", "..", "scenarios", "no-nat-handling.yaml"))
			Expect(os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(data), 0o644)).To(Succeed())
			Expect(os.WriteFile(filepath.Join(dir, "b.yml"), []byte(data), 0o644)).To(Succeed())
			Expect(os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o644)).To(Succeed())
			_, err := scenario.LoadDir(dir)
			Expect(err).To(MatchError(scenario.ErrInvalid))
			Expect(err.Error()).To(Equal(`load scenario "` + filepath.Join(dir, "b.yml") + `": line 10: name: "no-nat-handling" is already the name of "` +
				filepath.Join(dir, "a.yaml") + `" (line 10); scenario names must be unique`))
		})

		It("reads only regular files: a device is refused before any byte is read", func() {
			done := make(chan error, 1)
			go func() { _, err := scenario.Load("/dev/zero"); done <- err }()
			var err error
			Eventually(done, 5*time.Second).Should(Receive(&err))
			Expect(err).To(MatchError(`load scenario "/dev/zero": not a regular file (a character device); a scenario is a YAML file`))
			Expect(errors.Is(err, scenario.ErrInvalid)).To(BeFalse())
		})

		It("does not hang on a FIFO named like a scenario in a directory", func() {
			dir := GinkgoT().TempDir()
			Expect(os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(readFile(filepath.Join("..", "..", "scenarios", "no-nat-handling.yaml"))), 0o644)).To(Succeed())
			Expect(syscall.Mkfifo(filepath.Join(dir, "x.yaml"), 0o644)).To(Succeed())
			done := make(chan error, 1)
			go func() { _, err := scenario.LoadDir(dir); done <- err }()
			var err error
			Eventually(done, 5*time.Second).Should(Receive(&err))
			Expect(err).To(MatchError(`load scenario "` + filepath.Join(dir, "x.yaml") + `": not a regular file (a named pipe); a scenario is a YAML file`))
		})

		It("refuses a file larger than the size cap without reading it all", func() {
			file := filepath.Join(GinkgoT().TempDir(), "big.yaml")
			big := "name: big\nsummary: " + strings.Repeat("x", scenario.MaxFileSize) + "\n"
			Expect(os.WriteFile(file, []byte(big), 0o644)).To(Succeed())
			_, err := scenario.Load(file)
			Expect(err).To(MatchError(scenario.ErrInvalid))
			Expect(err.Error()).To(Equal(`load scenario "` + file + `": the file is larger than 1 MiB; a scenario is a few kilobytes of YAML`))
			_, err = scenario.Parse("big.yaml", []byte(big))
			Expect(err).To(MatchError(`load scenario "big.yaml": the file is larger than 1 MiB; a scenario is a few kilobytes of YAML`))
		})

		It("loads the largest topologies a file can hold", func() {
			// A hang here (a chain walk that never ends) fails the suite's own timeout;
			// how the time grows with the size is BenchmarkParse's business, not a spec's.
			// 5000 NATs each behind the one before, 2000 proxies each the next-hop of the
			// one before, and 500 calls along that chain: a few hundred kilobytes. Every
			// route is walked; the run is then refused as more than a run may hold in memory.
			var b strings.Builder
			b.WriteString("name: large\nnats:\n")
			ip := func(x int) string { return fmt.Sprintf("10.%d.%d.%d", x>>16&255, x>>8&255, x&255) }
			for i := range 5000 {
				public := "203.0.113.50"
				if i > 0 {
					public = ip(4*(i-1) + 1)
				}
				fmt.Fprintf(&b, "  n%d: {public: %s, lan: %s/30}\n", i, public, ip(4*i))
			}
			b.WriteString("hosts:\n  alice: {role: ua, address: " + ip(4*4999+1) + "}\n")
			for i := range 2000 {
				fmt.Fprintf(&b, "  p%d: {role: proxy, address: 198.18.%d.%d, next-hop: p%d}\n", i, i>>8, i&255, i+1)
			}
			b.WriteString("  p2000: {role: proxy, address: 198.19.0.1, registrar: true}\n  bob: {role: ua, address: 198.19.0.2, register-with: p2000}\nsteps:\n")
			for range 500 {
				b.WriteString("  - call: {from: alice, to: bob, via: p0, talk: 1s}\n")
			}
			Expect(b.Len()).To(BeNumerically("<", scenario.MaxFileSize))
			_, err := scenario.Parse("large.yaml", []byte(b.String()))
			Expect(err).To(MatchError(HaveSuffix("steps[29].call: 1 calls of 2002 hops each (the proxies on the route and the callee) bring the run to 60060 call hops, more than the 60000 a run may hold in memory; place fewer calls, or split the load over several scenarios")))
		})

		It("rejects a directory without scenarios", func() {
			_, err := scenario.LoadDir(GinkgoT().TempDir())
			Expect(err).To(MatchError(ContainSubstring("no *.yaml or *.yml files")))
		})
	})
})

func readFile(name string) string {
	GinkgoHelper()
	data, err := os.ReadFile(name)
	Expect(err).NotTo(HaveOccurred())
	return string(data)
}

// FuzzParse checks that Parse never panics, that every error it returns wraps ErrInvalid,
// and that the simulator builds every topology it accepts. FuzzTopology generates
// topologies instead of mutating text. Run it with:
//
//	go test ./harness/scenario -run '^$' -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	for _, dir := range []string{filepath.Join("..", "..", "scenarios"), filepath.Join("testdata", "bad")} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("a: &x [*x, *x]\nname: *x\n"))
	f.Add([]byte("hosts: {a: &h {role: ua, address: 1.2.3.4}, b: *h}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := scenario.Parse("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, scenario.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.HasPrefix(err.Error(), `load scenario "fuzz.yaml": `) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if s.Name == "" || len(s.Hosts) == 0 || len(s.Steps) == 0 {
			t.Fatalf("valid scenario without name, hosts or steps: %+v", s)
		}
		net := sim.NewNetwork(sim.Config{Carrier: sim.Memory, Clock: sim.NewVirtualClock(time.Unix(0, 0))})
		defer net.Close()
		if err := s.AddTo(net); err != nil {
			t.Fatalf("accepted a topology the simulator refuses: %v", err)
		}
		for _, st := range s.Steps {
			if st.Kind == scenario.StepCall {
				if _, ok := s.Host(st.Via); !ok {
					t.Fatalf("call via unknown host %q", st.Via)
				}
			}
		}
	})
}

func ExampleParse() {
	_, err := scenario.Parse("scenarios/x.yaml", []byte(`
name: x
hosts:
  bob: {role: ua, address: 192.168.300.1}
steps:
  - wait: 1s
`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, scenario.ErrInvalid))
	// Output:
	// load scenario "scenarios/x.yaml": line 4: hosts.bob.address: "192.168.300.1" is not an IP address
	// true
}
