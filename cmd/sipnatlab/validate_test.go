package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/container"
	"github.com/sipnatlab/sipnatlab/sipnattest/dockersuite"
)

var _ = Describe("sipnatlab validate", func() {
	DescribeTable("exits 2 on bad usage, before touching Docker",
		func(want string, args ...string) {
			code, _, stderr := runCLI(context.Background(), append([]string{"validate"}, args...)...)
			Expect(code).To(Equal(2))
			Expect(stderr).To(ContainSubstring(want))
		},
		Entry("no config", "--config and --as are required", "--as", "proxy-b", "../../scenarios/correct-nat-handling.yaml"),
		Entry("no host", "--config and --as are required", "--config", "../../fixtures/kamailio/correct.cfg", "../../scenarios/correct-nat-handling.yaml"),
		Entry("unknown engine", `--engine "asterisk"`, "--engine", "asterisk", "--config", "x.cfg", "--as", "proxy-b", "../../scenarios/correct-nat-handling.yaml"),
		Entry("a host that is not a proxy", "has no proxy host of that name", "--config", "../../fixtures/kamailio/correct.cfg", "--as", "bob", "../../scenarios/correct-nat-handling.yaml"),
		Entry("simulated time", "real time only", "--clock", "simulated", "--config", "../../fixtures/kamailio/correct.cfg", "--as", "proxy-b", "../../scenarios/correct-nat-handling.yaml"),
	)

	It("runs a scenario with Kamailio as proxy-b and prints the usual verdict with the real addresses", Label("container"), func(ctx SpecContext) {
		dockersuite.RequireKamailio(ctx, "../../scripts/build-kamailio-image.sh")
		code, out, stderr := runCLI(ctx, "validate", "--json", "--config", "../../fixtures/kamailio/correct.cfg", "--as", "proxy-b", "../../scenarios/correct-nat-handling.yaml")
		Expect(code).To(Equal(0), stderr)
		var doc struct {
			Scenarios []struct {
				Passed        bool
				RealAddresses map[string]string `json:"real_addresses"`
				Calls         []map[string]any
			}
		}
		Expect(json.Unmarshal([]byte(out), &doc)).To(Succeed())
		s := doc.Scenarios[0]
		Expect(s.Passed).To(BeTrue())
		Expect(s.RealAddresses).To(HaveKeyWithValue("proxy-b", MatchRegexp(`^198\.1[89]\.\d+\.2:5060$`)))
		Expect(s.RealAddresses).To(HaveKey("home-nat"))
		Expect(s.RealAddresses).NotTo(HaveKey("bob"), "private LAN addresses stay virtual")
		Expect(s.Calls[0]).To(HaveKeyWithValue("ack_at_callee", true))
		Expect(s.Calls[0]["contact_at_caller"]).To(MatchRegexp(`^sip:bob@198\.1[89]\.\d+\.10:40000$`), "Kamailio's fix_nated_contact() points at home-nat's mapping")
	})
})

// OpenSIPS 3.6 from the local image (built from the source tarball when
// missing), with no image named: --engine opensips alone.
var _ = Describe("sipnatlab validate --engine opensips", Label("container"), func() {
	type verdict struct {
		Scenarios []struct {
			Passed        bool
			Error         string
			RealAddresses map[string]string `json:"real_addresses"`
			Calls         []map[string]any
		}
	}
	validate := func(ctx SpecContext, config, as, file string) (int, verdict, string) {
		code, out, stderr := runCLI(ctx, "validate", "--json", "--engine", "opensips", "--config", config, "--as", as, file)
		var doc verdict
		Expect(json.Unmarshal([]byte(out), &doc)).To(Succeed(), "stdout %q, stderr %q", out, stderr)
		Expect(doc.Scenarios).To(HaveLen(1))
		return code, doc, stderr
	}
	BeforeEach(func(ctx SpecContext) {
		if img := dockersuite.RequireOpenSIPS(ctx, "../.."); img != container.OpenSIPSImage {
			// validate's default is the local image; the official one is named.
			GinkgoT().Setenv("SIPNATLAB_OPENSIPS_IMAGE", img)
		}
	})

	It("runs the correct case with fixtures/opensips/correct.cfg as proxy-b: the ACK reaches bob", func(ctx SpecContext) {
		code, doc, stderr := validate(ctx, "../../fixtures/opensips/correct.cfg", "proxy-b", "../../scenarios/correct-nat-handling.yaml")
		Expect(code).To(Equal(0), stderr)
		s := doc.Scenarios[0]
		Expect(s.Passed).To(BeTrue())
		Expect(s.RealAddresses).To(HaveKeyWithValue("proxy-b", MatchRegexp(`^198\.1[89]\.\d+\.2:5060$`)))
		Expect(s.Calls[0]).To(HaveKeyWithValue("ack_at_callee", true))
		Expect(s.Calls[0]).To(HaveKeyWithValue("blame", ""))
		Expect(s.Calls[0]["contact_at_caller"]).To(MatchRegexp(`^sip:bob@198\.1[89]\.\d+\.10:40000$`), "OpenSIPS's fix_nated_contact() points at home-nat's mapping")
	}, SpecTimeout(5*time.Minute))

	// The residential script osipsconfig generates with NAT enabled (only its
	// CUSTOMIZE ME socket line set): next to the NATed phone it fixes the
	// Contact of bob's 200 OK, so the ACK arrives.
	It("runs the correct case with the residential template (USE_NAT) as proxy-b: the ACK reaches bob, no blame", func(ctx SpecContext) {
		code, doc, stderr := validate(ctx, "../../fixtures/opensips/residential-nat.cfg", "proxy-b", "../../scenarios/correct-nat-handling.yaml")
		s := doc.Scenarios[0]
		Expect(s.Error).To(BeEmpty())
		Expect(s.Calls[0]).To(HaveKeyWithValue("ack_at_callee", true), "%v", s.Calls[0])
		Expect(s.Calls[0]).To(HaveKeyWithValue("blame", ""))
		Expect(s.Calls[0]).To(HaveKeyWithValue("callee_bye", false))
		Expect(code).To(Equal(0), stderr)
	}, SpecTimeout(5*time.Minute))

	It("says why a proxy listening on 127.0.0.1 (the template as shipped) is never reached, and what to change", func(ctx SpecContext) {
		src, err := os.ReadFile("../../fixtures/opensips/residential-nat.cfg")
		Expect(err).NotTo(HaveOccurred())
		shipped := strings.Replace(string(src), "socket=udp:eth0:5060", "socket=udp:127.0.0.1:5060", 1)
		cfg := filepath.Join(GinkgoT().TempDir(), "residential-as-shipped.cfg")
		Expect(os.WriteFile(cfg, []byte(shipped), 0o644)).To(Succeed())
		code, out, stderr := runCLI(ctx, "validate", "--engine", "opensips", "--config", cfg, "--as", "proxy-b", "../../scenarios/correct-nat-handling.yaml")
		Expect(code).To(Equal(1), stderr)
		Expect(out + stderr).To(ContainSubstring("listens on loopback only"))
		Expect(out + stderr).To(ContainSubstring("socket=udp:eth0:5060"))
	}, SpecTimeout(5*time.Minute))
})
