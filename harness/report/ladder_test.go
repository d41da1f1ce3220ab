package report_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

// arrow is what a ladder row draws, by column name: "" for no column.
type arrow struct {
	Label, From, To string
	Dropped         bool
}

func arrowOf(l *report.Ladder, r report.Row) arrow {
	name := func(i int) string {
		if i < 0 {
			return ""
		}
		return l.Columns[i].Name
	}
	return arrow{Label: r.Label, From: name(r.From), To: name(r.To), Dropped: r.Dropped}
}

var _ = Describe("the ladder model", func() {
	It("has a row per datagram in the order sent, with the drop at proxy-b and its typed cause", func() {
		_, res := run("no-nat-handling")
		l := report.NewLadder(res)
		Expect(l.Columns).To(Equal(res.Columns))

		var rows []report.Row
		for _, r := range l.Rows {
			if !r.IsNote() {
				rows = append(rows, r)
			}
		}
		Expect(len(rows)).To(BeNumerically(">", 13))
		var got []arrow
		for _, r := range rows[:13] {
			got = append(got, arrowOf(l, r))
		}
		Expect(got).To(Equal([]arrow{
			{"REGISTER", "bob", "proxy-b", false},
			{"200/REGISTER", "proxy-b", "bob", false},
			{"INVITE", "alice", "proxy-a", false},
			{"100 Trying", "proxy-a", "alice", false},
			{"INVITE", "proxy-a", "proxy-b", false},
			{"100 Trying", "proxy-b", "proxy-a", false},
			{"INVITE", "proxy-b", "bob", false},
			{"200 OK", "bob", "proxy-b", false},
			{"200 OK", "proxy-b", "proxy-a", false},
			{"200 OK", "proxy-a", "alice", false},
			{"ACK", "alice", "proxy-a", false},
			{"ACK", "proxy-a", "proxy-b", false},
			{"ACK", "proxy-b", "", true},
		}))

		// bob's REGISTER crosses home-nat on its way out.
		Expect(rows[0].Xlat).To(HaveLen(1))
		Expect(rows[0].Xlat[0].Hop).To(Equal("home-nat"))
		Expect(rows[0].Class).To(Equal("register"))

		// The ACK dies at proxy-b's own routing: a stub towards bob's column.
		ack := rows[12]
		Expect(ack.Class).To(Equal("ack"))
		Expect(ack.DropAt).To(Equal("proxy-b"))
		Expect(ack.Cause).To(Equal(sim.CausePrivateUnreachable))
		Expect(ack.Reason).To(HavePrefix("no route to private address 192.168.1.10:5060"))
		Expect(ack.DropText()).To(Equal("dropped at proxy-b: " + ack.Reason))
		Expect(ack.Toward).To(Equal(1))
		Expect(ack.CallID).To(Equal(res.Calls[0].CallID))

		// Every 200 OK carries bob's private Contact, relayed unchanged.
		oks := 0
		for _, r := range rows {
			if r.Class == "ok" {
				oks++
				Expect(r.Contact).To(Equal("sip:bob@192.168.1.10:5060"))
				Expect(r.RewrittenFrom).To(BeEmpty())
			}
		}
		Expect(oks).To(BeNumerically(">=", 11), "the first 200 OK and its retransmissions at three hops")

		// One row per datagram the capture holds, times from the run's start, in order.
		Expect(rows).To(HaveLen(res.Trace.Len()))
		for i := 1; i < len(l.Rows); i++ {
			Expect(l.Rows[i].At).To(BeNumerically(">=", l.Rows[i-1].At))
		}
	})

	It("shows bob giving up on the ACK as a note, before the BYE it sends then", func() {
		_, res := run("no-nat-handling")
		l := report.NewLadder(res)
		at := -1
		for i, r := range l.Rows {
			if r.IsNote() && r.Note.Cause == ua.CauseACKTimeout {
				Expect(at).To(Equal(-1), "one ACK timeout")
				at = i
			}
		}
		Expect(at).To(BeNumerically(">=", 0), "a note with cause %s", ua.CauseACKTimeout)
		note := l.Rows[at]
		Expect(l.Columns[note.From].Name).To(Equal("bob"))
		Expect(note.CallID).To(Equal(res.Calls[0].CallID))
		Expect(note.At).To(Equal(32 * time.Second))
		Expect(note.NoteText()).To(Equal("bob: " + note.Note.Reason))
		next := l.Rows[at+1]
		Expect(arrowOf(l, next)).To(Equal(arrow{"BYE", "bob", "proxy-b", false}))
	})

	It("marks the Contact rewrites of both proxies and shows proxy-b absorbing the ACK", func() {
		_, res := run("excessive-nat-handling")
		l := report.NewLadder(res)
		// What each hop sent in the 200 OK, and what it had received when it rewrote it.
		want := map[string][2]string{
			"bob":     {"sip:bob@192.168.1.10:5060", ""},
			"proxy-b": {"sip:bob@203.0.113.50:40000", "sip:bob@192.168.1.10:5060"},
			"proxy-a": {"sip:bob@203.0.113.2:5060", "sip:bob@203.0.113.50:40000"},
		}
		perHop := map[string]int{}
		for _, r := range l.Rows {
			if r.Class != "ok" {
				continue
			}
			from := l.Columns[r.From].Name
			perHop[from]++
			Expect([2]string{r.Contact, r.RewrittenFrom}).To(Equal(want[from]), "200 OK from %s at %s", from, r.At)
		}
		Expect(perHop).To(HaveLen(3))
		Expect(perHop["proxy-a"]).To(Equal(perHop["bob"]), "every 200 OK relayed and rewritten")

		absorbed := 0
		for i, r := range l.Rows {
			if !r.IsNote() || r.Note.Cause != proxy.CauseNothingToForward {
				continue
			}
			absorbed++
			Expect(l.Columns[r.From].Name).To(Equal("proxy-b"))
			Expect(r.NoteText()).To(ContainSubstring("names proxy-b itself"))
			// Right after the ACK it is about, which reached proxy-b.
			prev := l.Rows[i-1]
			Expect(prev.IsNote()).To(BeFalse())
			Expect(arrowOf(l, prev)).To(Equal(arrow{"ACK", "proxy-a", "proxy-b", false}))
			Expect(r.Note.Datagram).To(Equal(prev.D.ID))
		}
		Expect(absorbed).To(BeNumerically(">", 0))
	})

	It("is the same from the capture alone, without the run's trace or events", func() {
		_, res := run("excessive-nat-handling")
		bare := *res
		bare.Trace, bare.Events, bare.Placed = nil, nil, nil
		a, b := report.NewLadder(res), report.NewLadder(&bare)
		Expect(b.Rows).To(HaveLen(len(a.Rows)))
		for i := range a.Rows {
			ra, rb := a.Rows[i], b.Rows[i]
			Expect(arrowOf(b, rb)).To(Equal(arrowOf(a, ra)))
			Expect([]any{rb.At, rb.CallID, rb.Class, rb.Contact, rb.RewrittenFrom, rb.Cause, rb.Reason, rb.IsNote()}).
				To(Equal([]any{ra.At, ra.CallID, ra.Class, ra.Contact, ra.RewrittenFrom, ra.Cause, ra.Reason, ra.IsNote()}), "row %d", i)
		}
	})
})
