package container_test

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/testcontainers/testcontainers-go"

	"github.com/sipnatlab/sipnatlab/harness/container"
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

var _ = Describe("Kamailio in a container", Label("container"), Ordered, func() {
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

	DescribeTable("starts with each fixture, answers OPTIONS, passes kamailio -c, leaves nothing behind",
		func(ctx SpecContext, name string, defines ...string) {
			opts := []testcontainers.ContainerCustomizer{container.WithConfigFile(fixture("kamailio", name))}
			for _, d := range defines {
				opts = append(opts, container.WithDefine(d))
			}
			start := time.Now()
			p, err := container.Run(ctx, container.KamailioImage, opts...)
			DeferCleanup(p.Terminate)
			Expect(err).NotTo(HaveOccurred())
			AddReportEntry("container start", time.Since(start).Round(time.Millisecond).String())

			Expect(p.Flavor()).To(Equal(container.Kamailio))
			Expect(p.Addr().Addr().IsPrivate()).To(BeTrue(), "address on the internal network: %s", p.Addr())
			Expect(p.HostAddr().IsValid()).To(BeTrue())
			Expect(p.Options(ctx)).To(Equal(200))

			out, err := p.CheckConfig(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(out).To(ContainSubstring("config file ok"))
			Expect(p.Logs()).To(ContainSubstring("INFO"))

			cid, nid := p.ContainerID(), p.Network().ID
			Expect(p.Terminate(ctx)).To(Succeed())
			Expect(p.Terminate(ctx)).To(Succeed(), "Terminate is idempotent")
			gone(ctx, cid, nid)
			Expect(p.Logs()).NotTo(BeEmpty(), "logs outlive the container")
		},
		Entry("none", SpecTimeout(2*time.Minute), "none"),
		Entry("excessive", SpecTimeout(2*time.Minute), "excessive"),
		Entry("correct", SpecTimeout(2*time.Minute), "correct"),
		Entry("correct, forwarding to a next hop", SpecTimeout(2*time.Minute), "correct", `NEXT_HOP="sip:192.0.2.1:5060"`),
	)

	It("reports a broken config with the proxy's own error and still removes everything", func(ctx SpecContext) {
		src, err := os.ReadFile(fixture("kamailio", "correct"))
		Expect(err).NotTo(HaveOccurred())
		bad := filepath.Join(GinkgoT().TempDir(), "bad.cfg")
		Expect(os.WriteFile(bad, append(src, []byte("\nrequest_route { no_such_function(); }\n")...), 0o644)).To(Succeed())

		p, err := container.Run(ctx, container.KamailioImage, container.WithConfigFile(bad), container.WithStartupTimeout(30*time.Second))
		DeferCleanup(p.Terminate)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("container is exited"))
		Expect(err.Error()).To(ContainSubstring("no_such_function"))

		Expect(p).NotTo(BeNil(), "Run returns what it created, so the caller can clean up")
		cid, nid := p.ContainerID(), p.Network().ID
		Expect(p.Terminate(ctx)).To(Succeed())
		gone(ctx, cid, nid)
	}, SpecTimeout(2*time.Minute))

	It("two proxies share one network and reach each other", func(ctx SpecContext) {
		a, err := container.Run(ctx, container.KamailioImage, container.WithConfigFile(fixture("kamailio", "correct")))
		DeferCleanup(a.Terminate)
		Expect(err).NotTo(HaveOccurred())
		b, err := container.Run(ctx, container.KamailioImage, container.WithConfigFile(fixture("kamailio", "none")), container.WithNetwork(a.Network()))
		DeferCleanup(b.Terminate)
		Expect(err).NotTo(HaveOccurred())
		Expect(b.Network().ID).To(Equal(a.Network().ID))
		Expect(b.Addr()).NotTo(Equal(a.Addr()))
		Expect(b.Options(ctx)).To(Equal(200))

		Expect(b.Terminate(ctx)).To(Succeed())
		Expect(a.Options(ctx)).To(Equal(200), "the network stays while its creator runs")
	}, SpecTimeout(2*time.Minute))

	It("creates its network on a given subnet", func(ctx SpecContext) {
		subnet := netip.MustParsePrefix("172.31.250.0/24")
		p, err := container.Run(ctx, container.KamailioImage, container.WithConfigFile(fixture("kamailio", "correct")), container.WithSubnet(subnet))
		DeferCleanup(p.Terminate)
		Expect(err).NotTo(HaveOccurred())
		Expect(subnet.Contains(p.Addr().Addr())).To(BeTrue(), "%s in %s", p.Addr(), subnet)
		Expect(subnet.Contains(p.HostAddr())).To(BeTrue(), "%s in %s", p.HostAddr(), subnet)
		Expect(p.Options(ctx)).To(Equal(200))
	}, SpecTimeout(2*time.Minute))

	It("puts the proxy on an internal network: no route off the machine", func(ctx SpecContext) {
		p, err := container.Run(ctx, container.KamailioImage, container.WithConfigFile(fixture("kamailio", "correct")))
		DeferCleanup(p.Terminate)
		Expect(err).NotTo(HaveOccurred())
		out, err := exec.CommandContext(ctx, "docker", "network", "inspect", "-f", "{{.Internal}}", p.Network().Name).Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.TrimSpace(string(out))).To(Equal("true"))
		// Docker keeps an internal network in with two DROP rules on its
		// bridge: nothing from it to an address outside its subnet is
		// forwarded, and nothing from outside gets in.
		bridge := "br-" + p.Network().ID[:12]
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
})

var _ = Describe("OpenSIPS in a container", Label("container"), func() {
	// OpenSIPS is not packaged by Debian, so there is no local recipe: the
	// user names an image (for example one pulled where a registry is
	// reachable and loaded here with docker load).
	var img string
	BeforeEach(func(ctx SpecContext) {
		img = os.Getenv("SIPNATLAB_OPENSIPS_IMAGE")
		if img == "" {
			Skip("OpenSIPS specs need an image: set SIPNATLAB_OPENSIPS_IMAGE to a local OpenSIPS 3.x image (none is built here; Debian does not package OpenSIPS)")
		}
		needDocker(ctx)
	})

	DescribeTable("starts with each fixture, answers OPTIONS, passes opensips -c",
		func(ctx SpecContext, name string) {
			p, err := container.Run(ctx, img, container.WithConfigFile(fixture("opensips", name)), container.WithFlavor(container.OpenSIPS))
			DeferCleanup(p.Terminate)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Options(ctx)).To(Equal(200))
			_, err = p.CheckConfig(ctx)
			Expect(err).NotTo(HaveOccurred())
			cid, nid := p.ContainerID(), p.Network().ID
			Expect(p.Terminate(ctx)).To(Succeed())
			gone(ctx, cid, nid)
		},
		Entry("none", SpecTimeout(2*time.Minute), "none"),
		Entry("excessive", SpecTimeout(2*time.Minute), "excessive"),
		Entry("correct", SpecTimeout(2*time.Minute), "correct"),
	)
})
