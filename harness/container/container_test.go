package container_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/sipnatlab/sipnatlab/harness/container"
	"github.com/sipnatlab/sipnatlab/sipnattest/dockersuite"
)

var (
	repoRoot = filepath.Join("..", "..")
	script   = filepath.Join(repoRoot, "scripts", "build-kamailio-image.sh")
)

func fixture(proxy, name string) string {
	return filepath.Join(repoRoot, "fixtures", proxy, name+".cfg")
}

// needDocker skips the spec when no Docker engine answers, except in CI
// (CI=true), where a missing engine is a failure.
func needDocker(ctx context.Context) {
	err := container.DockerAvailable(ctx)
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		Fail("CI=true but Docker is not available: " + err.Error())
	}
	Skip("Docker is not available (container specs need a running Docker engine): " + err.Error())
}

// gone checks with the Docker API that neither the container nor the
// network exists any more.
func gone(ctx context.Context, containerID, networkID string) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	Expect(err).NotTo(HaveOccurred())
	defer cli.Close()
	_, err = cli.ContainerInspect(ctx, containerID, client.ContainerInspectOptions{})
	Expect(errdefs.IsNotFound(err)).To(BeTrue(), "container %s still exists (err %v)", containerID, err)
	_, err = cli.NetworkInspect(ctx, networkID, client.NetworkInspectOptions{})
	Expect(errdefs.IsNotFound(err)).To(BeTrue(), "network %s still exists (err %v)", networkID, err)
}

// joiners are the fixtures that start on the network of the first proxy
// (correct, on its own subnet); name is the key their table entry uses.
var joiners = []struct {
	name, config string
	defines      []string
}{
	{"none", "none", nil},
	{"excessive", "excessive", nil},
	{"correct, forwarding to a next hop", "correct", []string{`NEXT_HOP="sip:192.0.2.1:5060"`}},
}

// The Kamailio specs share five container starts: the first proxy creates
// a network on a given subnet, the other fixtures then join it all at once,
// and a broken config starts alongside the first on its own network.
var _ = Describe("Kamailio in a container", Label("container"), Ordered, func() {
	var subnet netip.Prefix
	var (
		proxies   map[string]*container.Proxy // by fixture name; "correct" created the network
		broken    *container.Proxy
		brokenErr error
	)

	BeforeAll(func(ctx SpecContext) {
		needDocker(ctx)
		start := time.Now()
		built, err := container.EnsureKamailioImage(ctx, container.KamailioImage, script, GinkgoWriter)
		if err != nil && os.Getenv("CI") != "true" && os.Geteuid() != 0 {
			Skip("the Kamailio image is missing and building it needs root (sudo make image): " + err.Error())
		}
		Expect(err).NotTo(HaveOccurred(), "building %s failed", container.KamailioImage)
		if built {
			AddReportEntry("image build", time.Since(start).Round(time.Second).String())
		}
	}, NodeTimeout(15*time.Minute))

	BeforeAll(func(ctx SpecContext) {
		src, err := os.ReadFile(fixture("kamailio", "correct"))
		Expect(err).NotTo(HaveOccurred())
		bad := filepath.Join(GinkgoT().TempDir(), "bad.cfg")
		Expect(os.WriteFile(bad, append(src, []byte("\nrequest_route { no_such_function(); }\n")...), 0o644)).To(Succeed())

		start := time.Now()
		var brokenStarted sync.WaitGroup
		brokenStarted.Go(func() {
			broken, brokenErr = container.Run(ctx, container.KamailioImage, container.WithConfigFile(bad), container.WithStartupTimeout(30*time.Second))
		})
		DeferCleanup(func(ctx context.Context) error {
			brokenStarted.Wait()
			return broken.Terminate(ctx)
		})

		// The given subnet is picked as harness runs pick theirs, again while
		// Docker reports an overlap (a fixed 172.31.250.0/24 once met a
		// network Docker had given 172.31.0.0/16). Cleanups run
		// last-registered first: the joiners leave the network before its
		// creator removes it.
		var creator *container.Proxy
		for attempt := 0; attempt < 8; attempt++ {
			subnet = container.BenchmarkingSubnet()
			creator, err = container.Run(ctx, container.KamailioImage, container.WithConfigFile(fixture("kamailio", "correct")), container.WithSubnet(subnet))
			DeferCleanup(creator.Terminate)
			if !container.SubnetTaken(err) {
				break
			}
		}
		Expect(err).NotTo(HaveOccurred())
		proxies = map[string]*container.Proxy{"correct": creator}

		ps, errs := make([]*container.Proxy, len(joiners)), make([]error, len(joiners))
		var wg sync.WaitGroup
		for i, j := range joiners {
			opts := []testcontainers.ContainerCustomizer{container.WithConfigFile(fixture("kamailio", j.config)), container.WithNetwork(creator.Network())}
			for _, d := range j.defines {
				opts = append(opts, container.WithDefine(d))
			}
			wg.Go(func() { ps[i], errs[i] = container.Run(ctx, container.KamailioImage, opts...) })
		}
		wg.Wait()
		for i, j := range joiners {
			DeferCleanup(ps[i].Terminate)
			proxies[j.name] = ps[i]
		}
		Expect(errors.Join(errs...)).NotTo(HaveOccurred())
		brokenStarted.Wait()
		AddReportEntry("container starts", time.Since(start).Round(time.Millisecond).String())
	}, NodeTimeout(3*time.Minute))

	DescribeTable("starts with each fixture, answers OPTIONS, passes kamailio -c",
		func(ctx SpecContext, name string) {
			p := proxies[name]
			Expect(p.Flavor()).To(Equal(container.Kamailio))
			Expect(subnet.Contains(p.Addr().Addr())).To(BeTrue(), "address on the spec's internal network %s: %s", subnet, p.Addr())
			Expect(p.HostAddr().IsValid()).To(BeTrue())
			Expect(p.Options(ctx)).To(Equal(200))

			out, err := p.CheckConfig(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(out).To(ContainSubstring("config file ok"))
			// The log consumer follows the container's output on its own
			// goroutine: wait for the line rather than expect it already there.
			Eventually(p.Logs).WithContext(ctx).Should(ContainSubstring("INFO"))
		},
		Entry("none", SpecTimeout(2*time.Minute), "none"),
		Entry("excessive", SpecTimeout(2*time.Minute), "excessive"),
		Entry("correct", SpecTimeout(2*time.Minute), "correct"),
		Entry("correct, forwarding to a next hop", SpecTimeout(2*time.Minute), "correct, forwarding to a next hop"),
	)

	It("reports a broken config with the proxy's own error and still removes everything", func(ctx SpecContext) {
		Expect(brokenErr).To(HaveOccurred())
		Expect(brokenErr.Error()).To(ContainSubstring("container is exited"))
		Expect(brokenErr.Error()).To(ContainSubstring("no_such_function"))

		Expect(broken).NotTo(BeNil(), "Run returns what it created, so the caller can clean up")
		cid, nid := broken.ContainerID(), broken.Network().ID
		Expect(broken.Terminate(ctx)).To(Succeed())
		gone(ctx, cid, nid)
	}, SpecTimeout(2*time.Minute))

	It("puts proxies on one network, each at its own address", func() {
		nid := proxies["correct"].Network().ID
		seen := map[netip.AddrPort]string{}
		for name, p := range proxies {
			Expect(p.Network().ID).To(Equal(nid), name)
			Expect(seen).NotTo(HaveKey(p.Addr()), "%s and %s", name, seen[p.Addr()])
			seen[p.Addr()] = name
		}
	})

	It("creates its network on a given subnet", func() {
		for name, p := range proxies {
			Expect(subnet.Contains(p.Addr().Addr())).To(BeTrue(), "%s: %s in %s", name, p.Addr(), subnet)
			Expect(subnet.Contains(p.HostAddr())).To(BeTrue(), "%s: %s in %s", name, p.HostAddr(), subnet)
		}
	})

	It("puts the proxy on an internal network: no route off the machine", func(ctx SpecContext) {
		nw := proxies["correct"].Network()
		out, err := exec.CommandContext(ctx, "docker", "network", "inspect", "-f", "{{.Internal}}", nw.Name).Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.TrimSpace(string(out))).To(Equal("true"))
		// Docker keeps an internal network in with two DROP rules on its
		// bridge: nothing from it to an address outside its subnet is
		// forwarded, and nothing from outside gets in.
		bridge := "br-" + nw.ID[:12]
		rules, err := exec.CommandContext(ctx, "iptables", "-S", "DOCKER-ISOLATION-STAGE-1").Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(rules)).To(MatchRegexp(`-i %s .*-j DROP|! -d \S+ -i %s -j DROP`, bridge, bridge), "%s", rules)
		Expect(string(rules)).To(MatchRegexp(`-o %s .*-j DROP|! -s \S+ -o %s -j DROP`, bridge, bridge), "%s", rules)
	}, SpecTimeout(2*time.Minute))

	It("refuses an image it does not have instead of pulling it", func(ctx SpecContext) {
		p, err := container.Run(ctx, "sipnatlab/no-such-image:0", container.WithConfigFile(fixture("kamailio", "correct")))
		Expect(p).To(BeNil())
		Expect(err).To(MatchError(container.ErrImageNotFound))
	})

	It("keeps the network while its creator runs, terminates idempotently and leaves nothing behind", func(ctx SpecContext) {
		creator := proxies["correct"]
		nid := creator.Network().ID
		for _, j := range joiners {
			Expect(proxies[j.name].Terminate(ctx)).To(Succeed(), j.name)
		}
		Expect(creator.Options(ctx)).To(Equal(200), "the network stays while its creator runs")
		Expect(creator.Terminate(ctx)).To(Succeed())
		for name, p := range proxies {
			Expect(p.Terminate(ctx)).To(Succeed(), "Terminate is idempotent (%s)", name)
			gone(ctx, p.ContainerID(), nid)
			Expect(p.Logs()).NotTo(BeEmpty(), "logs outlive the container (%s)", name)
		}
	}, SpecTimeout(2*time.Minute))
})

// Run labels the network it creates with an id of its own, so that a network
// the engine made for a request that failed (its context ended while the
// answer was on its way) can still be found and removed.
var _ = Describe("a network whose creation request failed", Label("container"), func() {
	It("is found by Run's label and removed, even once the context has ended", func(ctx SpecContext) {
		needDocker(ctx)
		label := container.RunLabel + "=spec-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		key, value, _ := strings.Cut(label, "=")
		nw, err := network.New(ctx, network.WithInternal(), network.WithLabels(map[string]string{"org.sipnatlab": "proxy", key: value}))
		Expect(err).NotTo(HaveOccurred())
		// Should the spec fail before the network is gone.
		DeferCleanup(func(ctx context.Context) { _ = nw.Remove(ctx) })

		ended, cancel := context.WithCancel(ctx)
		cancel()
		Expect(container.RemoveNetworks(ended, label)).To(Succeed())

		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		Expect(err).NotTo(HaveOccurred())
		defer cli.Close()
		_, err = cli.NetworkInspect(ctx, nw.ID, client.NetworkInspectOptions{})
		Expect(errdefs.IsNotFound(err)).To(BeTrue(), "network %s still exists (err %v)", nw.Name, err)
		Expect(container.RemoveNetworks(ctx, container.RunLabel+"=no-such-run")).To(Succeed(), "no network of that label is nothing to do")
	})
})

// The OpenSIPS specs start the three fixtures (and correct with a next hop)
// on one network, as the Kamailio ones do, in the image RequireOpenSIPS
// gives: the local one, built from the source tarball when missing.
var _ = Describe("OpenSIPS in a container", Label("container"), Ordered, func() {
	var (
		img     string
		proxies map[string]*container.Proxy
	)

	BeforeAll(func(ctx SpecContext) {
		start := time.Now()
		img = dockersuite.RequireOpenSIPS(ctx, repoRoot)
		AddReportEntry("image", img+" ("+time.Since(start).Round(time.Second).String()+")")

		var creator *container.Proxy
		var err error
		for attempt := 0; attempt < 8; attempt++ {
			creator, err = container.Run(ctx, img, container.WithConfigFile(fixture("opensips", "correct")), container.WithSubnet(container.BenchmarkingSubnet()))
			DeferCleanup(creator.Terminate)
			if !container.SubnetTaken(err) {
				break
			}
		}
		Expect(err).NotTo(HaveOccurred())
		Expect(creator.Flavor()).To(Equal(container.OpenSIPS), "the flavor follows the image name")
		proxies = map[string]*container.Proxy{"correct": creator}
		ps, errs := make([]*container.Proxy, len(joiners)), make([]error, len(joiners))
		var wg sync.WaitGroup
		for i, j := range joiners {
			opts := []testcontainers.ContainerCustomizer{container.WithConfigFile(fixture("opensips", j.config)), container.WithNetwork(creator.Network()), container.WithFlavor(container.OpenSIPS)}
			if len(j.defines) > 0 {
				opts = append(opts, container.WithNextHop("sip:192.0.2.1:5060"))
			}
			wg.Go(func() { ps[i], errs[i] = container.Run(ctx, img, opts...) })
		}
		wg.Wait()
		for i, j := range joiners {
			DeferCleanup(ps[i].Terminate)
			proxies[j.name] = ps[i]
		}
		Expect(errors.Join(errs...)).NotTo(HaveOccurred())
	}, NodeTimeout(20*time.Minute))

	DescribeTable("starts with each fixture, answers OPTIONS, passes opensips -c",
		func(ctx SpecContext, name string) {
			p := proxies[name]
			Expect(p.Flavor()).To(Equal(container.OpenSIPS))
			Expect(p.Options(ctx)).To(Equal(200))
			out, err := p.CheckConfig(ctx)
			Expect(err).NotTo(HaveOccurred(), out)
			Expect(out).To(ContainSubstring("config file ok"))
		},
		Entry("none", SpecTimeout(2*time.Minute), "none"),
		Entry("excessive", SpecTimeout(2*time.Minute), "excessive"),
		Entry("correct", SpecTimeout(2*time.Minute), "correct"),
		Entry("correct, forwarding to a next hop", SpecTimeout(2*time.Minute), "correct, forwarding to a next hop"),
	)

	It("hands NEXT_HOP to the script through the environment", func(ctx SpecContext) {
		p := proxies["correct, forwarding to a next hop"]
		code, r, err := p.Container().Exec(ctx, []string{"printenv", "NEXT_HOP"})
		Expect(err).NotTo(HaveOccurred())
		b, err := io.ReadAll(r)
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(0))
		Expect(string(b)).To(ContainSubstring("sip:192.0.2.1:5060"))
	}, SpecTimeout(time.Minute))

	It("rejects the fixture as it was written for OpenSIPS 2.x, with its own error", func(ctx SpecContext) {
		out, err := container.CheckConfigFile(ctx, img, filepath.Join(repoRoot, "harness", "lint", "testdata", "opensips-2x-correct.cfg"), container.WithFlavor(container.OpenSIPS))
		Expect(err).To(MatchError(container.ErrConfigRejected))
		Expect(out).To(ContainSubstring("bare word <uri> found, command calls need '()'"))
	}, SpecTimeout(2*time.Minute))

	It("accepts OpenSIPS's own stock script, whose modules the image carries", func(ctx SpecContext) {
		code, r, err := proxies["correct"].Container().Exec(ctx, []string{"opensips", "-c", "-f", "/usr/local/etc/opensips/opensips.cfg"})
		Expect(err).NotTo(HaveOccurred())
		b, err := io.ReadAll(r)
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(0), "%s", b)
	}, SpecTimeout(time.Minute))
})

var _ = Describe("Sweep", Label("container"), func() {
	It("removes a network a dead process left (with its bridge and the addresses on it) and keeps a live owner's", func(ctx SpecContext) {
		needDocker(ctx)
		dead := exec.Command("true")
		Expect(dead.Run()).To(Succeed()) // its pid names no process any more
		left, err := network.New(ctx, network.WithInternal(), network.WithLabels(map[string]string{
			"org.sipnatlab": "proxy", "org.sipnatlab.owner": fmt.Sprintf("pid-%d", dead.Process.Pid)}))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx context.Context) { _ = left.Remove(ctx) })
		mine, err := network.New(ctx, network.WithInternal(), network.WithLabels(map[string]string{
			"org.sipnatlab": "proxy", "org.sipnatlab.owner": fmt.Sprintf("pid-%d", os.Getpid())}))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx context.Context) { _ = mine.Remove(ctx) })

		removed, err := container.Sweep(ctx)
		Expect(err).NotTo(HaveOccurred())
		// Another suite's start may have swept the dead owner's network first (the
		// container phase runs suites at once), so what matters is that it is gone.
		Expect(removed).NotTo(ContainElement("network " + mine.Name))

		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		Expect(err).NotTo(HaveOccurred())
		defer cli.Close()
		_, err = cli.NetworkInspect(ctx, left.ID, client.NetworkInspectOptions{})
		Expect(errdefs.IsNotFound(err)).To(BeTrue(), "network %s still exists (err %v)", left.Name, err)
		_, err = cli.NetworkInspect(ctx, mine.ID, client.NetworkInspectOptions{})
		Expect(err).NotTo(HaveOccurred(), "a live owner's network stays")
	})

	It("runs in several processes at once: a network another sweep removed first is no error", func(ctx SpecContext) {
		needDocker(ctx)
		dead := exec.Command("true")
		Expect(dead.Run()).To(Succeed())
		for range 4 {
			left, err := network.New(ctx, network.WithInternal(), network.WithLabels(map[string]string{
				"org.sipnatlab": "proxy", "org.sipnatlab.owner": fmt.Sprintf("pid-%d", dead.Process.Pid)}))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func(ctx context.Context) { _ = left.Remove(ctx) })
		}
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, errs[i] = container.Sweep(ctx) })
		}
		wg.Wait()
		Expect(errors.Join(errs...)).NotTo(HaveOccurred())
		out, err := exec.CommandContext(ctx, "docker", "network", "ls", "-q", "--filter", fmt.Sprintf("label=org.sipnatlab.owner=pid-%d", dead.Process.Pid)).Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.TrimSpace(string(out))).To(BeEmpty())
	})
})
