package sim_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sipnatlab/sipnatlab/sim"
)

// The fabric benchmarks bounce one datagram back and forth between two
// endpoints (ping-pong), so no datagram is ever lost to a full socket buffer
// and every iteration is one datagram carried end to end. BenchmarkRawLoopbackUDP
// is the physical baseline: the same ping-pong between two bare UDP sockets on
// 127.0.0.1. Compare their ns/op (scripts/bench.sh prints the ratios).

var payload = make([]byte, 600) // about one SIP request

func BenchmarkRawLoopbackUDP(b *testing.B) {
	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if _, err := c.WriteToUDPAddrPort(buf[:n], from); err != nil {
				return
			}
		}
	}()
	to := c.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 2048)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for i := 0; i < b.N; i += 2 {
		if _, err := a.WriteToUDPAddrPort(payload, to); err != nil {
			b.Fatal(err)
		}
		if _, _, err := a.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.Close()
	<-done
}

// fabricPair opens two public hosts' endpoints on a fresh network.
func fabricPair(b *testing.B, cfg sim.Config) (*sim.Network, *sim.Conn, *sim.Conn) {
	n := sim.NewNetwork(cfg)
	ha, err := n.AddHost("a", netip.MustParseAddr("198.51.100.1"))
	if err != nil {
		b.Fatal(err)
	}
	hb, err := n.AddHost("b", netip.MustParseAddr("198.51.100.2"))
	if err != nil {
		b.Fatal(err)
	}
	ca, err := ha.ListenPacket(5060)
	if err != nil {
		b.Fatal(err)
	}
	cb, err := hb.ListenPacket(5060)
	if err != nil {
		b.Fatal(err)
	}
	return n, ca, cb
}

func benchPingPong(b *testing.B, cfg sim.Config) {
	n, ca, cb := fabricPair(b, cfg)
	defer n.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			k, from, err := cb.ReadFromAddrPort(buf)
			if err != nil {
				return
			}
			if _, err := cb.WriteToAddrPort(buf[:k], from); err != nil {
				return
			}
		}
	}()
	to := cb.LocalAddrPort()
	buf := make([]byte, 2048)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for i := 0; i < b.N; i += 2 {
		if _, err := ca.WriteToAddrPort(payload, to); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ca.ReadFromAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n.Close()
	<-done
}

// BenchmarkFabricLoopback is the fabric on its loopback carrier: routing,
// capture and a real UDP datagram per hop.
func BenchmarkFabricLoopback(b *testing.B) { benchPingPong(b, sim.Config{}) }

// BenchmarkFabricMemory is the memory carrier with goroutines and channels.
func BenchmarkFabricMemory(b *testing.B) { benchPingPong(b, sim.Config{Carrier: sim.Memory}) }

// virtualPingPong is a pair of endpoints on a fresh memory network under a
// VirtualClock, with push delivery: b echoes what it receives, a drops it.
// send sends one datagram from a to b and runs the clock until both the
// datagram and its echo are delivered.
func virtualPingPong(b *testing.B) (n *sim.Network, send func()) {
	vc := sim.NewVirtualClock(time.Unix(0, 0))
	n, ca, cb := fabricPair(b, sim.Config{Carrier: sim.Memory, Clock: vc})
	to := cb.LocalAddrPort()
	cb.SetReceiver(func(p []byte, from netip.AddrPort) { _, _ = cb.WriteToAddrPort(p, from) })
	ca.SetReceiver(func([]byte, netip.AddrPort) {})
	return n, func() {
		if _, err := ca.WriteToAddrPort(payload, to); err != nil {
			b.Fatal(err)
		}
		for vc.Step() {
		}
	}
}

// BenchmarkFabricVirtual is the memory carrier under a VirtualClock: push
// delivery, one goroutine, as a simulated-time run uses it.
func BenchmarkFabricVirtual(b *testing.B) {
	n, send := virtualPingPong(b)
	defer n.Close()
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for i := 0; i < b.N; i += 2 {
		send()
	}
}

// BenchmarkFabricVirtualRuns is BenchmarkFabricVirtual in runs of 20,000
// datagrams, each on a fresh network, as a suite runs scenarios: a
// 1000-call load is about 18,000 datagrams. Each run's capture is garbage
// once the run ends, so the heap is reused instead of growing without
// bound, which in BenchmarkFabricVirtual makes the figure the speed at
// which the machine hands the process fresh memory.
func BenchmarkFabricVirtualRuns(b *testing.B) {
	const perRun = 20000
	b.SetBytes(int64(len(payload)))
	for i := 0; i < b.N; {
		b.StopTimer()
		n, send := virtualPingPong(b)
		b.StartTimer()
		for j := 0; j < perRun && i < b.N; i, j = i+2, j+2 {
			send()
		}
		b.StopTimer()
		n.Close()
		b.StartTimer()
	}
}
