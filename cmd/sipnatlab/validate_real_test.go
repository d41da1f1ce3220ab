package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/container"
	"github.com/sipnatlab/sipnatlab/sipnattest/dockersuite"
)

// verdictDoc is validate's JSON verdict, as the specs read it.
type verdictDoc struct {
	Scenarios []struct {
		Passed        bool
		Error         string
		RealAddresses map[string]string `json:"real_addresses"`
		Calls         []map[string]any
	}
}

// validateJSON runs validate --json with args and returns its exit code, verdict and
// stderr.
func validateJSON(ctx context.Context, args ...string) (int, verdictDoc, string) {
	code, out, stderr := runCLI(ctx, append([]string{"validate", "--json"}, args...)...)
	var doc verdictDoc
	Expect(json.Unmarshal([]byte(out), &doc)).To(Succeed(), "stdout %q, stderr %q", out, stderr)
	Expect(doc.Scenarios).To(HaveLen(1))
	return code, doc, stderr
}

// stockKamailioCfg copies Debian's own /etc/kamailio/kamailio.cfg out of the
// Kamailio image, unmodified, and returns its path.
func stockKamailioCfg(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "docker", "run", "--rm", "--network", "none", "--entrypoint", "cat", container.KamailioImage, "/etc/kamailio/kamailio.cfg").Output()
	Expect(err).NotTo(HaveOccurred())
	Expect(string(out)).To(ContainSubstring("#!ifdef WITH_NAT"))
	cfg := filepath.Join(GinkgoT().TempDir(), "kamailio.cfg")
	Expect(os.WriteFile(cfg, out, 0o644)).To(Succeed())
	return cfg
}

var _ = Describe("sipnatlab validate with the configs operators have", Label("container"), func() {
	BeforeEach(func(ctx SpecContext) {
		dockersuite.RequireKamailio(ctx, "../../scripts/build-kamailio-image.sh")
	})

	// Debian's stock script with WITH_NAT fixes a NATed callee's Contact the way
	// many deployments do: set_contact_alias() on the reply, handle_ruri_alias()
	// on the in-dialog requests. It also loads rtpproxy, which is not there.
	It("passes correct-nat-handling with Debian's stock kamailio.cfg and WITH_NAT as proxy-b, and shows its rtpproxy warning", func(ctx SpecContext) {
		cfg := stockKamailioCfg(ctx)
		pcap := filepath.Join(GinkgoT().TempDir(), "stock.pcap")
		code, out, stderr := runCLI(ctx, "validate", "--define", "WITH_NAT", "--config", cfg, "--as", "proxy-b", "--pcap", pcap, "../../scenarios/correct-nat-handling.yaml")
		Expect(code).To(Equal(0), "%s\n%s", out, stderr)
		Expect(out).To(MatchRegexp(`ACK at callee: yes`))
		Expect(out).To(MatchRegexp(`ok +blame +want none +got none`))
		Expect(out).To(ContainSubstring("proxy-b (real proxy) logged these warnings and errors"))
		Expect(out).To(MatchRegexp(`proxy <udp:127\.0\.0\.1:7722> does not respond, disable it`))
		log, err := os.ReadFile(filepath.Join(filepath.Dir(pcap), "stock-proxy-b.log"))
		Expect(err).NotTo(HaveOccurred(), "the proxy's log is saved beside the capture")
		Expect(string(log)).To(ContainSubstring("Listening on"))
	}, SpecTimeout(3*time.Minute))

	// Without WITH_NAT the stock script sends the INVITE to bob's private
	// Contact, which leads nowhere; its fr_timer (30 s) ends the transaction
	// with a 408 of its own: make test-slow.
	It("names the 408 from proxy-b and blames proxy-b with the stock kamailio.cfg without WITH_NAT", Label("slow"), func(ctx SpecContext) {
		cfg := stockKamailioCfg(ctx)
		code, doc, stderr := validateJSON(ctx, "--config", cfg, "--as", "proxy-b", "../../scenarios/correct-nat-handling.yaml")
		Expect(code).To(Equal(1), stderr)
		c := doc.Scenarios[0].Calls[0]
		Expect(c).To(HaveKeyWithValue("answered", false))
		Expect(c).To(HaveKeyWithValue("final_response", MatchRegexp(`^408\b`)), "%v", c)
		Expect(c).To(HaveKeyWithValue("final_response_from", "proxy-b"), "%v", c)
		Expect(c).To(HaveKeyWithValue("blame", "proxy-b"), "%v", c)
	}, SpecTimeout(3*time.Minute))

	It("validates a script pinned to its scenario addresses unmodified, its role chosen with --define, alone and as the whole chain", func(ctx SpecContext) {
		code, doc, stderr := validateJSON(ctx, "--config", "../../fixtures/kamailio/pinned.cfg", "--as", "proxy-a", "--define", "PROXY_A", "../../scenarios/correct-nat-handling.yaml")
		Expect(code).To(Equal(0), "%s\n%+v", stderr, doc)
		Expect(doc.Scenarios[0].RealAddresses).To(Equal(map[string]string{"proxy-a": "203.0.113.1:5060"}))
		Expect(doc.Scenarios[0].Calls[0]).To(HaveKeyWithValue("ack_at_callee", true))

		code, doc, stderr = validateJSON(ctx, "--proxy", "proxy-a=kamailio:../../fixtures/kamailio/pinned.cfg", "--proxy", "proxy-b=kamailio:../../fixtures/kamailio/pinned.cfg",
			"--define", "proxy-a:PROXY_A", "--define", "proxy-b:PROXY_B", "../../scenarios/correct-nat-handling.yaml")
		Expect(code).To(Equal(0), "%s\n%+v", stderr, doc)
		Expect(doc.Scenarios[0].RealAddresses).To(Equal(map[string]string{"proxy-a": "203.0.113.1:5060", "proxy-b": "203.0.113.2:5060"}))
		c := doc.Scenarios[0].Calls[0]
		Expect(c).To(HaveKeyWithValue("ack_at_callee", true))
		Expect(c).To(HaveKeyWithValue("blame", ""))
		Expect(c).To(HaveKeyWithValue("contact_at_caller", "sip:bob@203.0.113.50:40000"))
	}, SpecTimeout(3*time.Minute))

	It("says in plain words why a proxy never became ready: its own exit and what a config must do", func(ctx SpecContext) {
		// The proxy-b role as proxy-a: listen= names an address proxy-a does not have.
		code, out, stderr := runCLI(ctx, "validate", "--config", "../../fixtures/kamailio/pinned.cfg", "--as", "proxy-a", "--define", "PROXY_B", "../../scenarios/correct-nat-handling.yaml")
		Expect(code).To(Equal(1), stderr)
		Expect(out).To(ContainSubstring("proxy-a (kamailio, ../../fixtures/kamailio/pinned.cfg): the proxy stopped"))
		Expect(out).To(ContainSubstring("on 203.0.113.2: Cannot assign requested address"), "the engine's own words")
		Expect(out).To(ContainSubstring("a config must listen on UDP 203.0.113.1:5060, its host's scenario address"))
		Expect(out).NotTo(ContainSubstring("docker.sock"))
	}, SpecTimeout(3*time.Minute))
})

// At the scenario's RFC timers: the callee gives up after 32 s (make test-slow).
var _ = Describe("sipnatlab validate with a mixed chain", Label("container", "slow"), func() {
	It("gives excessive-nat-handling's bundled verdict with Kamailio as proxy-a and OpenSIPS as proxy-b", func(ctx SpecContext) {
		dockersuite.RequireKamailio(ctx, "../../scripts/build-kamailio-image.sh")
		if img := dockersuite.RequireOpenSIPS(ctx, "../.."); img != container.OpenSIPSImage {
			GinkgoT().Setenv("SIPNATLAB_OPENSIPS_IMAGE", img)
		}
		code, doc, stderr := validateJSON(ctx, "--proxy", "proxy-a=kamailio:../../fixtures/kamailio/excessive.cfg",
			"--proxy", "proxy-b=opensips:../../fixtures/opensips/correct.cfg", "../../scenarios/excessive-nat-handling.yaml")
		Expect(code).To(Equal(0), "%s\n%+v", stderr, doc)
		s := doc.Scenarios[0]
		Expect(s.Passed).To(BeTrue())
		Expect(s.RealAddresses).To(HaveLen(2))
		Expect(s.Calls[0]).To(HaveKeyWithValue("ack_at_callee", false))
		Expect(s.Calls[0]).To(HaveKeyWithValue("callee_bye", true))
		Expect(s.Calls[0]).To(HaveKeyWithValue("blame", "proxy-a"))
	}, SpecTimeout(5*time.Minute))
})
