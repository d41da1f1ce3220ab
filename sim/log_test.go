package sim_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/alg"
)

// sampleRecords returns records of every Kind with every field the kind uses, and some
// the fabric never makes (an empty payload, IPv6 endpoints, a payload above 1 MiB, the
// largest datagram id), as a capture is given them: Seq and Time unset.
func sampleRecords() []sim.Record {
	invite := []byte("INVITE sip:bob@203.0.113.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1\r\n\r\n")
	rewritten := bytes.ReplaceAll(invite, []byte("192.168.1.10:5060"), []byte("203.0.113.50:40000"))
	big := bytes.Repeat([]byte("0123456789abcdef"), 150_000) // 2.4 MB: a chunk of its own
	return []sim.Record{
		{Datagram: 1, Kind: sim.Sent, Hop: "alice", Src: ap("192.168.1.10:5060"), Dst: ap("203.0.113.2:5060"), Data: invite},
		{Datagram: 1, Kind: sim.BindingCreated, Hop: "home-nat", Src: ap("192.168.1.10:5060"), Dst: ap("203.0.113.2:5060"),
			X: &sim.Translation{Src: ap("203.0.113.50:40000"), Dst: ap("203.0.113.2:5060")}, Reason: "endpoint-independent mapping"},
		{Datagram: 1, Kind: sim.Translated, Hop: "home-nat", Src: ap("192.168.1.10:5060"), Dst: ap("203.0.113.2:5060"),
			X:      &sim.Translation{Src: ap("203.0.113.50:40000"), Dst: ap("203.0.113.2:5060")},
			Reason: "new binding 192.168.1.10:5060 -> 203.0.113.50:40000; SIP ALG rewrote the payload", Data: rewritten},
		{Datagram: 1, Kind: sim.Delivered, Hop: "proxy", Src: ap("203.0.113.50:40000"), Dst: ap("203.0.113.2:5060"), Data: rewritten},
		{Datagram: 1, Kind: sim.Noted, Hop: "proxy", Dst: ap("203.0.113.2:5060"), Flow: "call-1@alice", Cause: "ack-absorbed", Reason: "ACK absorbed: no dialog"},
		{Datagram: 2, Kind: sim.Sent, Hop: "proxy", Src: ap("203.0.113.2:5060"), Dst: ap("203.0.113.50:40001"), Data: []byte{}},
		{Datagram: 2, Kind: sim.Dropped, Hop: "home-nat", Src: ap("203.0.113.2:5060"), Dst: ap("203.0.113.50:40001"),
			Cause: sim.CauseNoBinding, Reason: "no binding for port 40001", Data: []byte{}},
		{Kind: sim.Dropped, Hop: "proxy", Src: ap("198.51.100.10:5060"), Dst: ap("203.0.113.2:5060"), Cause: sim.CauseForged,
			Reason: "forged frame of 12 bytes from 127.0.0.1:41234 refused: wrong secret"},
		{Kind: sim.BindingExpired, Hop: "home-nat", Src: ap("192.168.1.10:5060"), Dst: ap("203.0.113.2:5060"),
			X: &sim.Translation{Src: ap("203.0.113.50:40000")}, Reason: "idle since 2026-01-02T03:04:05Z, timeout 2m0s"},
		{Datagram: 3, Kind: sim.Sent, Hop: "alice", Src: ap("[2001:db8::1]:5060"), Dst: ap("[::ffff:192.0.2.1]:5060"), Data: big},
		{Datagram: 3, Kind: sim.Dropped, Hop: "alice", Src: ap("[2001:db8::1]:5060"), Dst: ap("[::ffff:192.0.2.1]:5060"),
			Cause: sim.CauseUnroutable, Reason: "no host owns ::ffff:192.0.2.1 (IPv6 is not routed)", Data: big},
		{Datagram: 1<<32 - 1, Kind: sim.Noted, Hop: "proxy", Dst: ap("203.0.113.2:5060"), Flow: "call-1@alice"},
		{Datagram: 4, Kind: sim.Sent, Hop: "alice", Src: ap("192.168.1.10:5060"), Dst: ap("203.0.113.2:5060"), Data: invite},
	}
}

// captured adds recs to a new capture that spills as spill says, one clock tick apart,
// and returns the capture and what it should hold: recs with Seq and Time stamped.
func captured(recs []sim.Record, spill sim.SpillConfig) (*sim.Capture, []sim.Record) {
	clock := &fakeClock{now: t0}
	c := sim.NewCapture(clock, spill)
	want := make([]sim.Record, len(recs))
	for i, r := range recs {
		clock.Advance(time.Millisecond + time.Duration(i))
		c.Add(r)
		r.Seq, r.Time = i+1, clock.Now()
		want[i] = r
	}
	return c, want
}

// checkLog fails unless every way of reading l gives want.
func checkLog(t *testing.T, l *sim.Log, want []sim.Record) {
	t.Helper()
	if l.Len() != len(want) {
		t.Fatalf("Len %d, want %d", l.Len(), len(want))
	}
	for i, w := range want {
		if got := l.At(i); !reflect.DeepEqual(got, w) {
			t.Errorf("At(%d) = %+v\nwant %+v", i, brief(got), brief(w))
		}
		head := w
		head.Data = nil
		if got := l.Head(i); !reflect.DeepEqual(got, head) {
			t.Errorf("Head(%d) = %+v\nwant %+v", i, brief(got), brief(head))
		}
	}
	n := 0
	for i, r := range l.All() {
		if i != n || !reflect.DeepEqual(r, want[i]) {
			t.Errorf("All yielded %d: %+v, want %d: %+v", i, brief(r), n, brief(want[n]))
		}
		n++
	}
	if n != len(want) {
		t.Errorf("All yielded %d records, want %d", n, len(want))
	}
	for range l.All() {
		break // an iteration stopped early must not go on
	}
	if got := l.Records(); !reflect.DeepEqual(got, want) {
		t.Errorf("Records differ from what was added")
	}
	if err := l.Err(); err != nil {
		t.Errorf("Err: %v", err)
	}
}

// brief is r with its Data shortened, for messages.
func brief(r sim.Record) sim.Record {
	if len(r.Data) > 40 {
		r.Data = append(r.Data[:40:40], "…"...)
	}
	return r
}

var spills = map[string]func(dir string) sim.SpillConfig{
	"in memory":       func(string) sim.SpillConfig { return sim.SpillConfig{Above: -1} },
	"default":         func(string) sim.SpillConfig { return sim.SpillConfig{Dir: "unused"} },
	"all spilled":     func(dir string) sim.SpillConfig { return sim.SpillConfig{Above: 1, Dir: dir} },
	"partly spilled":  func(dir string) sim.SpillConfig { return sim.SpillConfig{Above: 200, Dir: dir} },
	"spilled past 1M": func(dir string) sim.SpillConfig { return sim.SpillConfig{Above: 1 << 20, Dir: dir} },
}

// Every record, of every kind, comes back from the Log exactly as it was added, whether
// its payload stayed in memory or went to the spill file, and the file leaves nothing in
// its directory.
func TestLogRoundTrip(t *testing.T) {
	for name, spill := range spills {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := spill(dir)
			c, want := captured(sampleRecords(), cfg)
			if got := c.Records(); !reflect.DeepEqual(got, want) {
				t.Errorf("the live capture's Records differ from what was added")
			}
			select {
			case <-c.Wait(func(r sim.Record) bool { return r.Datagram == 4 && bytes.HasPrefix(r.Data, []byte("INVITE")) }):
			default:
				t.Errorf("Wait did not find the last record's payload")
			}
			l := c.Take()
			checkLog(t, l, want)
			if l.Odd() != 0 {
				t.Errorf("%d records kept whole, want all packed", l.Odd())
			}
			mem, file := l.PayloadBytes()
			switch {
			case cfg.Above == 1 && mem != 0, cfg.Above < 0 && file != 0, cfg.Above == 200 && (mem == 0 || file == 0):
				t.Errorf("payload bytes in memory %d, in the file %d, with %+v", mem, file, cfg)
			}
			if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
				t.Errorf("spill directory holds %v (%v), want nothing", ents, err)
			}
			for range 2 {
				if err := l.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
		})
	}
}

func TestLogOfRoundTrip(t *testing.T) {
	_, want := captured(sampleRecords(), sim.SpillConfig{})
	in := make([]sim.Record, len(want))
	for i, r := range want {
		r.Data = bytes.Clone(r.Data) // as read back from a file: a slice per record
		in[i] = r
	}
	l := LogOfChecked(t, in)
	mem, _ := l.PayloadBytes()
	if distinct := payloadBytes(want); mem != distinct {
		t.Errorf("LogOf holds %d payload bytes, want each datagram's distinct payloads once: %d", mem, distinct)
	}
}

// LogOfChecked makes a Log of recs and checks it gives them back.
func LogOfChecked(t *testing.T, recs []sim.Record) *sim.Log {
	t.Helper()
	l := sim.LogOf(recs)
	t.Cleanup(func() { _ = l.Close() })
	checkLog(t, l, recs)
	return l
}

// payloadBytes sums the lengths of the payloads a Log should store: per datagram, each
// that differs from the one before it.
func payloadBytes(recs []sim.Record) int64 {
	last := map[int][]byte{}
	var n int64
	for _, r := range recs {
		if prev, ok := last[r.Datagram]; r.Data != nil && (r.Datagram == 0 || !ok || !bytes.Equal(prev, r.Data)) {
			n += int64(len(r.Data))
			last[r.Datagram] = r.Data
		}
	}
	return n
}

// What cannot be packed exactly is kept whole and still comes back as it went in.
func TestLogOfOddRecords(t *testing.T) {
	now := time.Now() // with a monotonic reading
	recs := []sim.Record{
		{Kind: sim.Sent, Hop: "a", Time: t0, Data: []byte("x")},
		{Kind: sim.Sent, Hop: "a", Time: t0},                                          // Seq out of order
		{Kind: sim.Delivered, Hop: "b", Time: now},                                    // monotonic reading
		{Kind: sim.Delivered, Hop: "b", Time: t0.In(time.FixedZone("X", 3600))},       // second location
		{Kind: sim.Sent, Hop: "a", Time: t0, Src: ap("[fe80::1%eth0]:5060")},          // zone
		{Kind: sim.Kind(9), Hop: "a", Time: t0},                                       // unknown kind
		{Datagram: -1, Kind: sim.Sent, Hop: "a", Time: t0, Data: []byte("y")},         // negative id
		{Kind: sim.Sent, Hop: "a", Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}, // past int64 ns
		{Kind: sim.Sent, Hop: "a"},                                                    // zero time
		{Kind: sim.Sent, Hop: "a", Time: t0, Data: []byte("z")},
	}
	for i := range recs {
		recs[i].Seq = 5 + i
	}
	recs[1].Seq = 100
	l := LogOfChecked(t, recs)
	if l.Odd() != len(recs)-2 {
		t.Errorf("%d records kept whole, want %d", l.Odd(), len(recs)-2)
	}

	var none *sim.Log
	if none.Len() != 0 || none.Close() != nil || none.Err() != nil {
		t.Errorf("a nil Log is not empty and closed")
	}
	if e := sim.LogOf(nil); e.Len() != 0 || len(e.Records()) != 0 || e.Close() != nil {
		t.Errorf("LogOf(nil) is not empty")
	}
}

func TestLogRecordSize(t *testing.T) {
	if sim.RecSize != 40 {
		t.Errorf("a packed record is %d bytes, want 40", sim.RecSize)
	}
}

// A spill file that fails (here closed under the Log, as a full disk would refuse
// writes) loses only the payloads handed to it: the Log says so in Err, those come
// back with Data nil, and payloads after the failure stay in memory.
func TestLogSpillFailure(t *testing.T) {
	dir := t.TempDir()
	_, want := captured(sampleRecords()[:1], sim.SpillConfig{Above: -1})
	l := sim.NewLog(sim.SpillConfig{Above: 1, Dir: dir}, 1)
	large := bytes.Repeat([]byte("L"), 100_000) // larger than the write buffer: written at once
	recs := []sim.Record{want[0], want[0], want[0]}
	recs[1].Seq, recs[1].Datagram, recs[1].Data = 2, 9, large
	recs[2].Seq, recs[2].Datagram = 3, 10
	l.Append(recs[0]) // buffered for the file
	l.BreakSpill()
	l.Append(recs[1]) // the write fails: kept in memory
	l.Append(recs[2]) // in memory
	l.Freeze()
	if l.Err() == nil || !strings.Contains(l.Err().Error(), "spill capture payloads") {
		t.Fatalf("Err %v, want the failed write", l.Err())
	}
	if got := l.At(0); got.Data != nil || got.Hop != recs[0].Hop {
		t.Errorf("At(0) = %+v, want the record with Data nil", brief(got))
	}
	for i := 1; i < 3; i++ {
		if got := l.At(i); !reflect.DeepEqual(got, recs[i]) {
			t.Errorf("At(%d) = %+v, want %+v", i, brief(got), brief(recs[i]))
		}
	}

	missing := sim.NewLog(sim.SpillConfig{Above: 1, Dir: filepath.Join(dir, "missing")}, 1)
	missing.Append(recs[0])
	missing.Freeze()
	if missing.Err() == nil || !reflect.DeepEqual(missing.At(0), recs[0]) {
		t.Errorf("without a spill directory: Err %v, At(0) %+v; want the error and the payload kept in memory", missing.Err(), missing.At(0))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spill directory holds %v, want nothing", ents)
	}
}

// Readers share a taken Log, its spill file included.
func TestLogConcurrentReaders(t *testing.T) {
	var recs []sim.Record
	for range 50 {
		recs = append(recs, sampleRecords()[:9]...)
	}
	c, want := captured(recs, sim.SpillConfig{Above: 4096, Dir: t.TempDir()})
	l := c.Take()
	defer l.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i, r := range l.All() {
				if !reflect.DeepEqual(r, want[i]) {
					t.Errorf("record %d read concurrently differs", i)
					return
				}
			}
		})
	}
	wg.Wait()
}

// The fabric's records of one datagram share one copy of its payload in the Log, on
// either carrier; a NAT's ALG that rewrites it adds one copy of the rewritten payload.
func TestLogPayloadStoredOnce(t *testing.T) {
	register := []byte("REGISTER sip:198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK1;rport\r\nContact: <sip:bob@10.0.0.10:5060>\r\nContent-Length: 0\r\n\r\n")
	options := []byte("OPTIONS sip:198.51.100.10 SIP/2.0\r\nContent-Length: 0\r\n\r\n")
	for _, kind := range carriers {
		t.Run(kind.String(), func(t *testing.T) {
			n := sim.NewNetwork(sim.Config{Carrier: kind, Clock: &fakeClock{now: t0}})
			defer n.Close()
			if _, err := n.AddNAT(sim.NATConfig{Name: "office", Public: netip.MustParseAddr("203.0.113.60"),
				LAN: netip.MustParsePrefix("10.0.0.0/24"), ALG: alg.Rewrite.Func()}); err != nil {
				t.Fatal(err)
			}
			bob := hostConn(t, n, "bob", "10.0.0.10:5060")
			proxy := hostConn(t, n, "proxy", "198.51.100.10:5060")
			const each = 20
			var rewritten int
			buf := make([]byte, 2048)
			for range each {
				for _, p := range [][]byte{register, options} {
					if _, err := bob.WriteToAddrPort(p, proxy.LocalAddrPort()); err != nil {
						t.Fatal(err)
					}
					k, _, err := proxy.ReadFrom(buf)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(buf[:k], p) {
						rewritten = k
					}
				}
			}
			l := n.Capture().Take()
			defer l.Close()
			mem, file := l.PayloadBytes()
			want := int64(each * (len(register) + rewritten + len(options)))
			if rewritten == 0 || mem != want || file != 0 {
				t.Errorf("%d payload bytes held (%d in a file), want %d: each payload once, the ALG's rewrite (%d B) once more",
					mem, file, want, rewritten)
			}
			if got := payloadBytes(l.Records()); got != want {
				t.Errorf("the records carry %d distinct payload bytes, want %d", got, want)
			}
		})
	}
}

func hostConn(t *testing.T, n *sim.Network, name, at string) *sim.Conn {
	t.Helper()
	a := netip.MustParseAddrPort(at)
	h, err := n.AddHost(name, a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.ListenPacket(a.Port())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A writer may reuse its buffer as soon as WriteTo returns: the datagram in flight and
// the capture hold their own copy (the capture's, whether in memory or spilled).
func TestLogWriterReusesBuffer(t *testing.T) {
	for _, kind := range carriers {
		for _, above := range []int64{-1, 1} {
			t.Run(fmt.Sprintf("%s, spill above %d", kind, above), func(t *testing.T) {
				dir := t.TempDir()
				n := sim.NewNetwork(sim.Config{Carrier: kind, Clock: &fakeClock{now: t0}, Spill: sim.SpillConfig{Above: above, Dir: dir}})
				defer n.Close()
				alice := hostConn(t, n, "alice", "198.51.100.1:5060")
				bob := hostConn(t, n, "bob", "198.51.100.2:5060")
				buf := []byte("first datagram")
				if _, err := alice.WriteToAddrPort(buf, bob.LocalAddrPort()); err != nil {
					t.Fatal(err)
				}
				copy(buf, "XXXXXXXXXXXXXX")
				got := make([]byte, 64)
				k, _, err := bob.ReadFrom(got)
				if err != nil || string(got[:k]) != "first datagram" {
					t.Fatalf("bob read %q (%v), want the datagram as written", got[:k], err)
				}
				l := n.Capture().Take()
				defer l.Close()
				for _, r := range l.All() {
					if string(r.Data) != "first datagram" {
						t.Errorf("%s record holds %q, want the datagram as written", r.Kind, r.Data)
					}
				}
				if mem, file := l.PayloadBytes(); mem+file != int64(len(buf)) {
					t.Errorf("%d + %d payload bytes held, want the one payload once", mem, file)
				}
			})
		}
	}
}

// A snapshot of the live capture may be read while the fabric goes on writing into the
// same Log (and its arena), in memory or spilled.
func TestLogReadWhileWriting(t *testing.T) {
	for _, above := range []int64{-1, 4096} {
		n := sim.NewNetwork(sim.Config{Carrier: sim.Memory, Clock: &fakeClock{now: t0}, Spill: sim.SpillConfig{Above: above, Dir: t.TempDir()}})
		alice := hostConn(t, n, "alice", "198.51.100.1:5060")
		bob := hostConn(t, n, "bob", "198.51.100.2:5060")
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range 1000 {
				if _, err := alice.WriteToAddrPort([]byte(fmt.Sprintf("datagram %04d", i)), bob.LocalAddrPort()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		for reading := true; reading; {
			select {
			case <-done:
				reading = false
			default:
			}
			for _, r := range n.Capture().Records() {
				if !strings.HasPrefix(string(r.Data), "datagram ") {
					t.Fatalf("record %d holds %q", r.Seq, r.Data)
				}
			}
		}
		if got := n.Capture().Len(); got != 1000 {
			t.Errorf("%d records, want 1000 Sent", got)
		}
		n.Close()
		_ = n.Capture().Take().Close()
	}
}
