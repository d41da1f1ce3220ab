package realproxy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/container"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/realproxy"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// stockConfig copies Debian's /etc/kamailio/kamailio.cfg out of the Kamailio image into
// a temporary file, with "#!define NAME" lines for defines put first (what kamailio -A
// NAME does), and returns its path.
func stockConfig(ctx context.Context, defines ...string) string {
	GinkgoHelper()
	out, err := exec.CommandContext(ctx, "docker", "create", container.KamailioImage).Output()
	Expect(err).NotTo(HaveOccurred())
	id := strings.TrimSpace(string(out))
	DeferCleanup(func(ctx SpecContext) { _ = exec.CommandContext(ctx, "docker", "rm", id).Run() })
	dir := GinkgoT().TempDir()
	stock := filepath.Join(dir, "stock.cfg")
	Expect(exec.CommandContext(ctx, "docker", "cp", id+":/etc/kamailio/kamailio.cfg", stock).Run()).To(Succeed())
	src, err := os.ReadFile(stock)
	Expect(err).NotTo(HaveOccurred())
	var head string
	for _, d := range defines {
		head += "#!define " + d + "\n"
	}
	cfg := filepath.Join(dir, "kamailio.cfg")
	Expect(os.WriteFile(cfg, append([]byte(head), src...), 0o644)).To(Succeed())
	return cfg
}

// Debian's stock kamailio.cfg as proxy-b of correct-nat-handling, at RFC 3261's timers
// (its own tm timers are its own: fr_timer 30 s).
var _ = Describe("honest verdicts with Debian's stock kamailio.cfg as proxy-b", Label("container"), func() {
	run := func(ctx SpecContext, cfg string) judge.CallFacts {
		GinkgoHelper()
		s, err := scenario.Load(filepath.Join(root, "scenarios", "correct-nat-handling.yaml"))
		Expect(err).NotTo(HaveOccurred())
		res, err := harness.Run(ctx, s, harness.Options{Proxies: realproxy.Docker{}, Containers: map[string]harness.Container{
			"proxy-b": {Engine: scenario.EngineKamailio, Config: cfg},
		}})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Calls).To(HaveLen(1))
		return res.Calls[0]
	}

	It("without WITH_NAT: proxy-b never reaches bob's private Contact and answers 408 after 30 s; the report names the 408 and blames proxy-b", func(ctx SpecContext) {
		requireDocker(ctx)
		f := run(ctx, stockConfig(ctx))
		Expect(f.Answered).To(BeFalse())
		Expect(f.FinalResponse).To(Equal("408 Request Timeout"))
		Expect(f.FinalFrom).To(Equal("proxy-b"))
		Expect(f.Blame).To(Equal("proxy-b"), f.Diagnosis)
		Expect(f.Diagnosis).To(ContainSubstring("408 Request Timeout"))
	}, NodeTimeout(3*time.Minute))

	It("with WITH_NAT: set_contact_alias() marks bob's Contact, handle_ruri_alias() routes the ACK to bob, and nobody is blamed", func(ctx SpecContext) {
		requireDocker(ctx)
		f := run(ctx, stockConfig(ctx, "WITH_NAT"))
		Expect(f.ACKAtCallee).To(BeTrue(), f.Diagnosis)
		Expect(f.Blame).To(BeEmpty())
		Expect(f.Class).To(Equal(judge.ClassACKArrived))
		Expect(f.ContactAtCaller).To(ContainSubstring(";alias="))
		for _, h := range f.Hops[1:] {
			Expect(h.Leads).To(BeTrue(), "%s: %s", h.Host, h.Resolves)
		}
	}, NodeTimeout(3*time.Minute))
})
