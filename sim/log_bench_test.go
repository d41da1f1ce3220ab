package sim_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sipnatlab/sipnatlab/sim"
)

// The Log benchmarks compare the packed Log with the representation it replaced (the
// capture's chunks of []Record, kept below as oldRecords) on the records of a fabric
// run: 50 hosts behind a NAT, each writing 600-byte datagrams to a public echo host
// 10 to 13.6 ms apart in virtual time; a datagram is 3 records (Sent, Translated, Delivered),
// plus the NAT's BindingCreated records. Compare their ns/op and B/record.

// logStream returns the records of such a run, and its payload bytes, one copy per
// datagram.
func logStream(b *testing.B, datagrams int) []sim.Record {
	b.Helper()
	vc := sim.NewVirtualClock(time.Unix(0, 0))
	n := sim.NewNetwork(sim.Config{Carrier: sim.Memory, Clock: vc, Spill: sim.SpillConfig{Above: -1}})
	defer n.Close()
	if _, err := n.AddNAT(sim.NATConfig{Name: "home-nat", Public: homePublic, LAN: netip.MustParsePrefix("192.168.0.0/16")}); err != nil {
		b.Fatal(err)
	}
	echo, err := n.AddHost("echo", proxyAddr)
	if err != nil {
		b.Fatal(err)
	}
	ce, err := echo.ListenPacket(5060)
	if err != nil {
		b.Fatal(err)
	}
	ce.SetReceiver(func(p []byte, from netip.AddrPort) { _, _ = ce.WriteToAddrPort(p, from) })
	var conns []*sim.Conn
	for i := range 50 {
		h, err := n.AddHost(fmt.Sprintf("ua-%d", i), netip.AddrFrom4([4]byte{192, 168, 1, byte(10 + i)}))
		if err != nil {
			b.Fatal(err)
		}
		c, err := h.ListenPacket(5060)
		if err != nil {
			b.Fatal(err)
		}
		c.SetReceiver(func([]byte, netip.AddrPort) {})
		conns = append(conns, c)
	}
	for i := 0; i < datagrams; i += 2 {
		if _, err := conns[i/2%len(conns)].WriteToAddrPort(payload, ce.LocalAddrPort()); err != nil {
			b.Fatal(err)
		}
		// The next one 10 to 13.6 ms later, so that the NAT's notes ("refreshed (idle …)")
		// differ, as in a run.
		vc.AfterFunc(10*time.Millisecond+time.Duration(i%97)*37*time.Microsecond, func() {})
		for vc.Step() {
		}
	}
	l := n.Capture().Take()
	defer l.Close()
	return l.Records()
}

// oldRecords is the capture's store before the Log, chunks of Record values, with what
// the fabric allocated per record then: WriteTo's copy of the payload, which the
// datagram's records shared, a Translation and the Reason and Flow strings.
type oldRecords struct {
	chunks  [][]sim.Record
	payload map[int][]byte // by datagram: the copy WriteTo made, until its last record
	held    int64          // payload bytes copied
}

func (o *oldRecords) add(r sim.Record) {
	if r.X != nil {
		x := *r.X
		r.X = &x
	}
	r.Reason, r.Flow = strings.Clone(r.Reason), strings.Clone(r.Flow)
	if r.Data != nil {
		if r.Kind == sim.Sent {
			if o.payload == nil {
				o.payload = make(map[int][]byte)
			}
			o.payload[r.Datagram] = bytes.Clone(r.Data)
			o.held += int64(len(r.Data))
		}
		if p, ok := o.payload[r.Datagram]; ok {
			r.Data = p
		}
		if r.Kind == sim.Delivered || r.Kind == sim.Dropped {
			delete(o.payload, r.Datagram)
		}
	}
	if len(o.chunks) == 0 || len(o.chunks[len(o.chunks)-1]) == 4096 {
		o.chunks = append(o.chunks, make([]sim.Record, 0, 4096))
	}
	last := &o.chunks[len(o.chunks)-1]
	*last = append(*last, r)
}

// perRun is the number of records after which the append benchmarks start afresh.
const perRun = 100_000

// BenchmarkLogAppend packs one record into a Log, as the Capture does.
func BenchmarkLogAppend(b *testing.B) {
	stream := logStream(b, 20_000)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	l := sim.NewLog(sim.SpillConfig{Above: -1}, 1)
	i := 0
	for b.Loop() {
		if l.Len() == perRun {
			l = sim.NewLog(sim.SpillConfig{Above: -1}, 1)
		}
		r := stream[i%len(stream)]
		r.Seq = l.Len() + 1
		l.Append(r)
		i++
	}
}

// BenchmarkOldRecordsAppend is the baseline: one record appended to chunks of Records,
// with what the fabric allocated per record and per datagram.
func BenchmarkOldRecordsAppend(b *testing.B) {
	stream := logStream(b, 20_000)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	o, n := &oldRecords{}, 0
	i := 0
	for b.Loop() {
		if n == perRun {
			o, n = &oldRecords{}, 0
		}
		o.add(stream[i%len(stream)])
		i++
		n++
	}
}

func benchDecode(b *testing.B, spill sim.SpillConfig, read func(*sim.Log, int) sim.Record) {
	stream := logStream(b, 20_000)
	l := sim.NewLog(spill, 1)
	for i, r := range stream {
		r.Seq = i + 1
		l.Append(r)
	}
	l.Freeze()
	defer l.Close()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if r := read(l, i%l.Len()); r.Seq == 0 {
			b.Fatal("no record")
		}
		i++
	}
	if l.Err() != nil {
		b.Fatal(l.Err())
	}
}

// BenchmarkLogAt decodes one record with its payload from memory.
func BenchmarkLogAt(b *testing.B) {
	benchDecode(b, sim.SpillConfig{Above: -1}, (*sim.Log).At)
}

// BenchmarkLogAtSpilled decodes one record with its payload read from the spill file.
func BenchmarkLogAtSpilled(b *testing.B) {
	benchDecode(b, sim.SpillConfig{Above: 1, Dir: b.TempDir()}, (*sim.Log).At)
}

// BenchmarkLogHead decodes one record without its payload.
func BenchmarkLogHead(b *testing.B) {
	benchDecode(b, sim.SpillConfig{Above: -1}, (*sim.Log).Head)
}

// heapAfter returns the live heap after make has run and the collector has finished,
// less the live heap before it, keeping build's result alive until measured.
func heapAfter(build func() any) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	kept := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(kept)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// BenchmarkLogBytes reports the live heap a Log of 100,000 records of the stream holds,
// per record and per datagram, beyond the payload bytes it holds (its arena's unused
// tail, under 1 MiB, counts as beyond).
func BenchmarkLogBytes(b *testing.B) {
	stream := logStream(b, 2*perRun/3)
	var heap, mem int64
	for b.Loop() {
		heap = heapAfter(func() any {
			l := sim.NewLog(sim.SpillConfig{Above: -1}, 1)
			for i, r := range stream {
				r.Seq = i + 1
				l.Append(r)
			}
			mem, _ = l.PayloadBytes()
			return l
		})
	}
	reportBytes(b, stream, heap-mem)
}

// BenchmarkOldRecordsBytes is BenchmarkLogBytes for the chunks of Records.
func BenchmarkOldRecordsBytes(b *testing.B) {
	stream := logStream(b, 2*perRun/3)
	var heap, held int64
	for b.Loop() {
		heap = heapAfter(func() any {
			o := &oldRecords{}
			for _, r := range stream {
				o.add(r)
			}
			held = o.held
			return o
		})
	}
	reportBytes(b, stream, heap-held)
}

func reportBytes(b *testing.B, stream []sim.Record, beyond int64) {
	datagrams := map[int]bool{}
	for _, r := range stream {
		datagrams[r.Datagram] = true
	}
	b.ReportMetric(float64(beyond)/float64(len(stream)), "B/record")
	b.ReportMetric(float64(beyond)/float64(len(datagrams)), "B/datagram")
	b.ReportMetric(float64(len(stream))/float64(len(datagrams)), "records/datagram")
}
