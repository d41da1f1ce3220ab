package realproxy_test

import (
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/realproxy"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// Debian's stock kamailio.cfg with and without WITH_NAT as proxy-b is
// cmd/sipnatlab/validate_real_test.go's (sipnatlab validate --define).
// An ACK a real proxy sends towards bob's private address is classified from what left
// the container, as in process: private-contact, lost at that proxy, which is blamed.
var _ = Describe("an ACK lost inside a container", Label("container"), func() {
	It("is classified private-contact from the ACK the container sent towards 192.168.1.10, as the in-process proxy's", func(ctx SpecContext) {
		requireDocker(ctx)
		s, err := scenario.Load(filepath.Join(root, "scenarios", "no-nat-handling.yaml"))
		Expect(err).NotTo(HaveOccurred())
		s = s.Scaled(0.1) // bob gives up after 3.2 s
		in, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
		Expect(err).NotTo(HaveOccurred())
		real, err := harness.Run(ctx, s, harness.Options{Proxies: realproxy.Docker{}, Containers: map[string]harness.Container{
			"proxy-b": {Engine: scenario.EngineKamailio, Config: filepath.Join(root, "fixtures", "kamailio", "none.cfg")},
		}})
		Expect(err).NotTo(HaveOccurred())
		f := real.Calls[0]
		Expect(in.Calls[0].Class).To(Equal(judge.ClassPrivateContact))
		Expect(f.Class).To(Equal(judge.ClassPrivateContact), f.Diagnosis)
		Expect(f.ACKLostAt).To(Equal("proxy-b"))
		Expect(f.Blame).To(Equal("proxy-b"))
		Expect(f.Diagnosis).To(ContainSubstring("proxy-b sent it to the private Contact sip:bob@192.168.1.10:5060 and it was dropped"))
	}, NodeTimeout(3*time.Minute))
})
