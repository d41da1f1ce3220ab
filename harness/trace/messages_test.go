package trace

import (
	"fmt"
	"testing"

	"github.com/sipnatlab/sipnatlab/sim"
)

// A Trace keeps at most cachedMessages parsed messages, drops the oldest first, and parses
// a dropped message again to an equal one.
func TestMessagesBounded(t *testing.T) {
	n := cachedMessages + 10
	recs := make([]sim.Record, 0, n+1)
	for i := 1; i <= n; i++ {
		recs = append(recs, sim.Record{Seq: i, Datagram: i, Kind: sim.Sent, Hop: "alice", Data: fmt.Appendf(nil,
			"OPTIONS sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK%d\r\nFrom: <sip:a@192.0.2.2>;tag=1\r\n"+
				"To: <sip:bob@192.0.2.1>\r\nCall-ID: call-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", i, i)})
	}
	recs = append(recs, sim.Record{Seq: n + 1, Datagram: n + 1, Kind: sim.Sent, Hop: "alice", Data: []byte("garbage")})
	tr := New(recs)
	kept := 0
	for _, d := range tr.Datagrams {
		if d.msg.Load() != nil {
			kept++
		}
	}
	if kept != cachedMessages || len(tr.msgs.ring) != cachedMessages {
		t.Fatalf("%d messages kept, %d in the ring, want %d", kept, len(tr.msgs.ring), cachedMessages)
	}
	first, last := tr.Datagram(1), tr.Datagram(n)
	if first.msg.Load() != nil || last.msg.Load() == nil {
		t.Fatal("the oldest message was kept or the newest dropped")
	}
	m := first.Message()
	if m == nil || first.CallID != "call-1" || m.CallID().Value() != "call-1" {
		t.Fatalf("a dropped message came back as %v (Call-ID %q)", m, first.CallID)
	}
	if first.Message() != m {
		t.Fatal("a message parsed again was not kept")
	}
	if last.msg.Load() == nil || tr.Datagram(11).msg.Load() != nil {
		t.Fatal("parsing one message again did not drop only the oldest kept one")
	}
	if d := tr.Datagram(n + 1); d.Message() != nil || d.CallID != "" {
		t.Fatal("garbage parsed as a message")
	}
}
