package realproxy_test

import (
	"path/filepath"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/realproxy"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// A scenario built in Go skips the loader: Start applies its rule itself,
// before any container starts (so this needs no Docker).
var _ = Describe("a real proxy behind a NAT that forwards nothing to it", func() {
	It("is refused before anything starts, with the loader's reason", func(ctx SpecContext) {
		s, err := scenario.Load(filepath.Join(root, "scenarios", "proxy-behind-nat.yaml"))
		Expect(err).NotTo(HaveOccurred())
		c := *s
		c.NATs = slices.Clone(s.NATs)
		c.NATs[0].Forwards = nil
		started, err := realproxy.Docker{}.Start(ctx, &c, map[string]harness.Container{
			"proxy": {Engine: scenario.EngineKamailio, Config: filepath.Join(root, "fixtures", "kamailio", "behind-nat.cfg")},
		})
		DeferCleanup(started.Close)
		Expect(err).To(MatchError(realproxy.ErrContainer))
		Expect(err).To(MatchError(ContainSubstring("proxy: a real proxy (engine kamailio) cannot sit behind NAT office-nat, which forwards no port to it")))
	})
})
