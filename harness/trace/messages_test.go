package trace

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sim"
)

var _ = Describe("the parsed messages of a Trace", func() {
	It("keeps at most cachedMessages, drops the oldest first, and parses a dropped one again", func() {
		n := cachedMessages + 10
		recs := make([]sim.Record, 0, n+1)
		for i := 1; i <= n; i++ {
			recs = append(recs, sim.Record{Seq: i, Datagram: i, Kind: sim.Sent, Hop: "alice", Data: fmt.Appendf(nil,
				"OPTIONS sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK%d\r\nFrom: <sip:a@192.0.2.2>;tag=1\r\n"+
					"To: <sip:bob@192.0.2.1>\r\nCall-ID: call-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", i, i)})
		}
		recs = append(recs, sim.Record{Seq: n + 1, Datagram: n + 1, Kind: sim.Sent, Hop: "alice", Data: []byte("garbage")})
		tr := New(sim.LogOf(recs))
		kept := 0
		for d := range tr.Datagrams() {
			if d.msg.Load() != nil {
				kept++
			}
		}
		Expect(kept).To(Equal(cachedMessages))
		Expect(tr.msgs.ring).To(HaveLen(cachedMessages))

		first, last := tr.Datagram(1), tr.Datagram(n)
		Expect(first.msg.Load()).To(BeNil(), "the oldest message is kept")
		Expect(last.msg.Load()).NotTo(BeNil(), "the newest message was dropped")
		m := first.Message()
		Expect(m).NotTo(BeNil())
		Expect(first.CallID).To(Equal("call-1"))
		Expect(m.CallID().Value()).To(Equal("call-1"))
		Expect(first.Message()).To(BeIdenticalTo(m), "a message parsed again is kept")
		Expect(last.msg.Load()).NotTo(BeNil())
		Expect(tr.Datagram(11).msg.Load()).To(BeNil(), "parsing one again drops the oldest kept one")

		garbage := tr.Datagram(n + 1)
		Expect(garbage.Message()).To(BeNil())
		Expect(garbage.CallID).To(BeEmpty())
	})
})
