package endpoint_test

import (
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

var _ = Describe("IDs", func() {
	draw := func(ids *endpoint.IDs) []string {
		var out []string
		for range 20 {
			out = append(out, ids.Branch(), ids.Tag(), ids.CallID())
		}
		return out
	}

	It("starts every branch with RFC 3261's magic cookie (§8.1.1.7)", func() {
		ids := endpoint.NewIDs(7, "alice")
		for range 100 {
			b := ids.Branch()
			Expect(b).To(HavePrefix("z9hG4bK"))
			Expect(len(b)).To(BeNumerically(">", len("z9hG4bK")+8))
		}
	})

	It("gives the same sequence for the same seed and name, another for another seed or name", func() {
		a := draw(endpoint.NewIDs(7, "alice"))
		Expect(draw(endpoint.NewIDs(7, "alice"))).To(Equal(a))
		Expect(draw(endpoint.NewIDs(8, "alice"))).NotTo(Equal(a))
		Expect(draw(endpoint.NewIDs(7, "bob"))).NotTo(Equal(a))
	})

	It("makes identifiers fit for SIP tokens, all distinct", func() {
		seen := map[string]bool{}
		for _, id := range draw(endpoint.NewIDs(1, "alice")) {
			Expect(id).To(MatchRegexp(`^(z9hG4bK)?[0-9a-z]+$`))
			Expect(seen).NotTo(HaveKey(id))
			seen[id] = true
		}
	})

	It("may be used from several goroutines at once", func() {
		ids := endpoint.NewIDs(1, "alice")
		var mu sync.Mutex
		seen := map[string]bool{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 200 {
					id := ids.CallID()
					mu.Lock()
					seen[id] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		Expect(seen).To(HaveLen(8 * 200))
	})
})
