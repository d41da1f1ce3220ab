package main

import (
	"context"
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/sipnatlab/sipnatlab/internal/dockersuite"
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
