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

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/container"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
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
		Entry("--proxy without an engine", "want HOST=ENGINE:CONFIG", "--proxy", "proxy-b=../../fixtures/kamailio/correct.cfg", "../../scenarios/correct-nat-handling.yaml"),
		Entry("--proxy with an unknown engine", `engine "asterisk"`, "--proxy", "proxy-b=asterisk:../../fixtures/kamailio/correct.cfg", "../../scenarios/correct-nat-handling.yaml"),
		Entry("--proxy naming a host twice", "proxy-b is named twice", "--proxy", "proxy-b=kamailio:../../fixtures/kamailio/correct.cfg", "--proxy", "proxy-b=opensips:../../fixtures/opensips/correct.cfg", "../../scenarios/correct-nat-handling.yaml"),
		Entry("--proxy with a missing config", `proxy-b's config: stat nope.cfg: no such file or directory`, "--proxy", "proxy-b=kamailio:nope.cfg", "../../scenarios/correct-nat-handling.yaml"),
		Entry("--proxy on a host that is not a proxy", "has no proxy host of that name", "--proxy", "bob=kamailio:../../fixtures/kamailio/correct.cfg", "../../scenarios/correct-nat-handling.yaml"),
		Entry("--define for a host that is no real proxy", "proxy-a is not a real proxy of this run (proxy-b)", "--config", "../../fixtures/kamailio/correct.cfg", "--as", "proxy-b", "--define", "proxy-a:WITH_NAT", "../../scenarios/correct-nat-handling.yaml"),
		Entry("--define with no name", "want [HOST:]NAME[=VALUE]", "--config", "../../fixtures/kamailio/correct.cfg", "--as", "proxy-b", "--define", "=1", "../../scenarios/correct-nat-handling.yaml"),
	)

	// The loader refuses engine: on a proxy behind a NAT (it would get a public
	// address and change the topology); --as and --proxy apply the same rule with
	// the same error.
	DescribeTable("refuses a real proxy behind a NAT with the loader's own error",
		func(flags ...string) {
			dir := GinkgoT().TempDir()
			const proxyBehindNAT = `name: proxy-behind-nat
nats:
  office-nat:
    public: 203.0.113.60
    lan: 10.0.0.0/24
hosts:
  proxy-b:
    role: proxy
    address: 10.0.0.2
    registrar: true
  bob:
    role: ua
    address: 10.0.0.10
    register-with: proxy-b
  carol:
    role: ua
    address: 10.0.0.11
steps:
  - register: bob
  - call: {from: carol, to: bob, via: proxy-b, talk: 1s}
`
			plain := filepath.Join(dir, "plain.yaml")
			Expect(os.WriteFile(plain, []byte(proxyBehindNAT), 0o644)).To(Succeed())
			cfg, err := filepath.Abs("../../fixtures/kamailio/correct.cfg")
			Expect(err).NotTo(HaveOccurred())
			named := filepath.Join(dir, "named.yaml")
			withEngine := strings.Replace(proxyBehindNAT, "    registrar: true\n", "    registrar: true\n    engine: kamailio\n    config: "+cfg+"\n", 1)
			Expect(os.WriteFile(named, []byte(withEngine), 0o644)).To(Succeed())

			code, _, loaderErr := runCLI(context.Background(), "run", named)
			Expect(code).To(Equal(2))
			Expect(loaderErr).To(ContainSubstring("cannot sit behind NAT office-nat"))

			code, _, validateErr := runCLI(context.Background(), append(append([]string{"validate"}, flags...), plain)...)
			Expect(code).To(Equal(2))
			_, want, _ := strings.Cut(loaderErr, named)
			_, got, _ := strings.Cut(validateErr, plain)
			Expect(got).To(Equal(want), "validate: %s\nloader: %s", validateErr, loaderErr)
		},
		Entry("--as", "--config", "../../fixtures/kamailio/correct.cfg", "--as", "proxy-b"),
		Entry("--proxy", "--proxy", "proxy-b=kamailio:../../fixtures/kamailio/correct.cfg"),
	)

	// A proxy behind a NAT that forwards a port to it passes the same host checks
	// (its container runs at the private address; the fabric's NAT translates).
	It("accepts a real proxy behind a NAT that forwards a port to it", func() {
		s, err := scenario.Load("../../scenarios/proxy-behind-nat.yaml")
		Expect(err).NotTo(HaveOccurred())
		Expect(checkHosts(s, map[string]harness.Container{
			"proxy": {Engine: scenario.EngineOpenSIPS, Config: "../../fixtures/opensips/behind-nat.cfg"},
		})).To(Succeed())
	})

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
		Expect(s.RealAddresses).To(Equal(map[string]string{"proxy-b": "203.0.113.2:5060"}), "the proxy has its scenario address; nothing else is real")
		Expect(s.Calls[0]).To(HaveKeyWithValue("ack_at_callee", true))
		Expect(s.Calls[0]).To(HaveKeyWithValue("contact_at_caller", "sip:bob@203.0.113.50:40000"), "Kamailio's fix_nated_contact() points at home-nat's mapping")
	})
})

// OpenSIPS 3.6 from the local image (built from the source tarball when
// missing), with no image named: --engine opensips alone.
var _ = Describe("sipnatlab validate --engine opensips", Label("container"), func() {
	validate := func(ctx SpecContext, config, as, file string) (int, verdictDoc, string) {
		return validateJSON(ctx, "--engine", "opensips", "--config", config, "--as", as, file)
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
		Expect(s.RealAddresses).To(HaveKeyWithValue("proxy-b", "203.0.113.2:5060"))
		Expect(s.Calls[0]).To(HaveKeyWithValue("ack_at_callee", true))
		Expect(s.Calls[0]).To(HaveKeyWithValue("blame", ""))
		Expect(s.Calls[0]).To(HaveKeyWithValue("contact_at_caller", "sip:bob@203.0.113.50:40000"), "OpenSIPS's fix_nated_contact() points at home-nat's mapping")
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
