package trace

import (
	"fmt"
	"net/netip"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sim"
)

// options is a SIP OPTIONS request of the call, its Contact host contact.
func options(callID, contact string) []byte {
	return fmt.Appendf(nil, "OPTIONS sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK1\r\n"+
		"From: <sip:a@192.0.2.2>;tag=1\r\nTo: <sip:bob@192.0.2.1>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\n"+
		"Contact: <sip:a@%s>\r\nContent-Length: 0\r\n\r\n", callID, contact)
}

var _ = Describe("a Trace", func() {
	a, b := netip.MustParseAddrPort("192.168.1.10:5060"), netip.MustParseAddrPort("203.0.113.1:5060")
	ext := netip.MustParseAddrPort("203.0.113.50:40000")
	one, two := options("call-1", "192.168.1.10"), options("call-1", "192.168.1.11")
	rewritten := []byte(strings.Replace(string(two), "192.168.1.11", "203.0.113.50", 1))
	// Two datagrams of one call whose records interleave; the second's payload a NAT's
	// ALG rewrote, and it was dropped; notes about the first and about the call.
	recs := []sim.Record{
		{Seq: 1, Datagram: 1, Kind: sim.Sent, Hop: "alice", Src: a, Dst: b, Data: one},
		{Seq: 2, Datagram: 2, Kind: sim.Sent, Hop: "alice", Src: a, Dst: b, Data: two},
		{Seq: 3, Datagram: 1, Kind: sim.BindingCreated, Hop: "nat", Src: a, Dst: b, X: &sim.Translation{Src: ext}},
		{Seq: 4, Datagram: 1, Kind: sim.Translated, Hop: "nat", Src: a, Dst: b, X: &sim.Translation{Src: ext, Dst: b}, Data: one},
		{Seq: 5, Datagram: 2, Kind: sim.Translated, Hop: "nat", Src: a, Dst: b, X: &sim.Translation{Src: ext, Dst: b}, Data: rewritten},
		{Seq: 6, Datagram: 1, Kind: sim.Delivered, Hop: "proxy", Src: ext, Dst: b, Data: one},
		{Seq: 7, Datagram: 2, Kind: sim.Dropped, Hop: "proxy", Src: ext, Dst: b, Reason: "full", Data: rewritten},
		{Seq: 8, Datagram: 1, Kind: sim.Noted, Hop: "proxy", Reason: "absorbed"},
		{Seq: 9, Kind: sim.Noted, Hop: "alice", Flow: "call-1", Reason: "gave up"},
		{Seq: 10, Kind: sim.BindingExpired, Hop: "nat", Src: a, X: &sim.Translation{Src: ext}},
	}

	It("decodes each datagram's records from the log when asked, as values of the caller's", func() {
		tr := New(sim.LogOf(recs))
		Expect(tr.Len()).To(Equal(2))
		d1, d2 := tr.Datagram(1), tr.Datagram(2)
		Expect(d1.CallID).To(Equal("call-1"))
		Expect(d1.Sent().Seq).To(Equal(1))
		Expect(d1.Sent().Data).To(BeNil(), "Sent is decoded without its payload")
		Expect(d1.Payload()).To(Equal(one))
		Expect(d1.Delivered()).To(BeTrue())
		Expect(d1.End().Seq).To(Equal(6))
		Expect(d1.ALG()).To(BeNil())
		Expect(d1.Xlat()).To(HaveLen(1))
		Expect(d1.Notes()).To(ConsistOf(HaveField("Reason", "absorbed")))

		s := d1.Sent()
		s.Hop = "changed"
		Expect(d1.Sent().Hop).To(Equal("alice"), "a record handed out is a fresh copy")

		Expect(d2.Dropped()).To(BeTrue())
		Expect(d2.ALG().Seq).To(Equal(5))
		Expect(d2.ReceivedPayload()).To(Equal(rewritten))
		edits, _ := ALGEdits(d2)
		Expect(edits).To(ConsistOf(Edit{Header: "Contact", Before: "Contact: <sip:a@192.168.1.11>", After: "Contact: <sip:a@203.0.113.50>"}))
		Expect(Contact(d2.Received())).To(Equal("sip:a@203.0.113.50"))
	})

	It("gives a call's steps in Seq order without notes, its notes, and each record's kind and successor", func() {
		tr := New(sim.LogOf(recs))
		var seqs []int
		for _, st := range tr.Steps("call-1") {
			seqs = append(seqs, st.Seq)
			Expect(st.D.ID).To(Equal(st.Datagram))
		}
		Expect(seqs).To(Equal([]int{1, 2, 3, 4, 5, 6, 7}))
		Expect(tr.Notes("call-1")).To(HaveLen(2))
		Expect(tr.AllNotes()).To(HaveLen(2))
		Expect(tr.Call("call-1")).To(HaveExactElements(tr.Datagram(1), tr.Datagram(2)))
		Expect(tr.CallIDs()).To(Equal([]string{"call-1"}))
		Expect(tr.Next(0)).To(Equal(2), "datagram 1's binding follows its sending")
		Expect(tr.Next(4)).To(Equal(6), "datagram 2's translation is followed by its drop")
		Expect(tr.Next(5)).To(Equal(7), "datagram 1's delivery is followed by its note")
		Expect(tr.Next(6)).To(Equal(-1), "datagram 2's Dropped record is its last")
		Expect(tr.Next(7)).To(Equal(-1), "datagram 1's note is its last")
		Expect(tr.Next(9)).To(Equal(-1), "a binding expiry is no datagram's")
		Expect(tr.Kind(2)).To(Equal(sim.BindingCreated))
		Expect(tr.Kind(8)).To(Equal(sim.Noted))
	})

	It("finds datagrams by sparse ids as well as by the network's dense ones", func() {
		tr := New(sim.LogOf([]sim.Record{
			{Seq: 1, Datagram: 1 << 30, Kind: sim.Sent, Hop: "alice", Data: one},
			{Seq: 2, Datagram: 7, Kind: sim.Sent, Hop: "bob", Data: two},
			{Seq: 3, Datagram: 1 << 30, Kind: sim.Delivered, Hop: "bob", Data: one},
		}))
		Expect(tr.Len()).To(Equal(2))
		Expect(tr.Datagram(1 << 30).Sender()).To(Equal("alice"))
		Expect(tr.Datagram(1 << 30).Delivered()).To(BeTrue())
		Expect(tr.Datagram(7).Sender()).To(Equal("bob"))
		Expect(tr.Datagram(6)).To(BeNil())
		Expect(tr.Datagram(0)).To(BeNil())
		var ids []int
		for d := range tr.Datagrams() {
			ids = append(ids, d.ID)
		}
		Expect(ids).To(Equal([]int{1 << 30, 7}))
	})
})

var _ = Describe("the chunks of a Trace's datagrams", func() {
	It("hold 32, 64, ... 512, then 1024 datagrams each, every datagram in one place", func() {
		sizes := map[int]int{}
		prev, prevOff := -1, -1
		for i := range geometric + 3*chunkLen {
			c, off := chunkOf(i)
			if c != prev {
				Expect(c).To(Equal(prev+1), "datagram %d", i)
				Expect(off).To(BeZero(), "datagram %d", i)
			} else {
				Expect(off).To(Equal(prevOff+1), "datagram %d", i)
			}
			sizes[c]++
			prev, prevOff = c, off
		}
		Expect(sizes).To(Equal(map[int]int{0: 32, 1: 64, 2: 128, 3: 256, 4: 512, 5: 1024, 6: 1024, 7: 1024}))
		for c, n := range sizes {
			Expect(chunkSize(c)).To(Equal(n), "chunk %d", c)
		}
	})

	It("group a capture of 100,000 datagrams, each found by its id", func() {
		const n = 100_000
		recs := make([]sim.Record, n)
		for i := range recs {
			recs[i] = sim.Record{Seq: i + 1, Datagram: i + 1, Kind: sim.Sent, Hop: "alice"}
		}
		tr := New(sim.LogOf(recs))
		Expect(tr.Len()).To(Equal(n))
		for _, id := range []int{1, 54_000, 55_265, n} {
			Expect(tr.Datagram(id)).NotTo(BeNil(), "datagram %d", id)
			Expect(tr.Datagram(id).ID).To(Equal(id))
		}
	})

	// The size of chunk c was once firstChunk<<c capped at chunkLen: past chunk 58 the
	// shift overflowed and a run of about 54,000 datagrams panicked in New.
	It("are all of 1024 past the growing ones, however many there are", func() {
		for _, i := range []int{geometric, 54_000, 55_265, 1 << 20, 1 << 30} {
			c, off := chunkOf(i)
			Expect(chunkSize(c)).To(Equal(chunkLen), "datagram %d", i)
			Expect(off).To(BeNumerically("<", chunkSize(c)), "datagram %d", i)
		}
	})
})
