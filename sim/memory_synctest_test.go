package sim_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sipnatlab/sipnatlab/sim"
)

// memoryWorld builds, inside the calling bubble, alice behind home-nat (address-and-port-
// dependent filtering, default 120 s binding timeout) and a public proxy, on the memory
// carrier and the system clock, which the bubble simulates.
func memoryWorld(t *testing.T) (n *sim.Network, alice, proxy *sim.Conn) {
	t.Helper()
	n = sim.NewNetwork(sim.Config{Carrier: sim.Memory})
	t.Cleanup(func() { n.Close() })
	if _, err := n.AddNAT(sim.NATConfig{
		Name: "home-nat", Public: homePublic, LAN: homeLAN, Filtering: sim.AddressAndPortDependent,
	}); err != nil {
		t.Fatal(err)
	}
	a, err := n.AddHost("alice", aliceAddr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := n.AddHost("proxy", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	if alice, err = a.ListenPacket(5060); err != nil {
		t.Fatal(err)
	}
	if proxy, err = p.ListenPacket(5060); err != nil {
		t.Fatal(err)
	}
	return n, alice, proxy
}

// reader reads c until it fails, passing on each payload; the channel closes with the
// error that ended it.
type reader struct {
	msgs chan string
	err  error
}

func readAll(c *sim.Conn) *reader {
	r := &reader{msgs: make(chan string, 16)}
	go func() {
		defer close(r.msgs)
		buf := make([]byte, 1500)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				r.err = err
				return
			}
			r.msgs <- string(buf[:n])
		}
	}()
	return r
}

func write(t *testing.T, c *sim.Conn, dst string, msg string) {
	t.Helper()
	if _, err := c.WriteToAddrPort([]byte(msg), netip.MustParseAddrPort(dst)); err != nil {
		t.Fatal(err)
	}
}

func lastRecord(n *sim.Network) sim.Record {
	rs := n.Capture().Records()
	return rs[len(rs)-1]
}

func TestMemoryCarrierInSimulatedTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, a, p := memoryWorld(t)
		start := time.Now()
		pr, ar := readAll(p), readAll(a)

		write(t, a, "203.0.113.2:5060", "REGISTER")
		synctest.Wait() // the proxy's reader has read it and blocks again
		if got := <-pr.msgs; got != "REGISTER" {
			t.Fatalf("proxy read %q, want REGISTER", got)
		}
		write(t, p, "203.0.113.50:40000", "200 OK")
		synctest.Wait()
		if got := <-ar.msgs; got != "200 OK" {
			t.Fatalf("alice read %q, want 200 OK", got)
		}
		rs := n.Capture().Records()
		if len(rs) != 7 {
			t.Fatalf("got %d records, want 7: %+v", len(rs), rs)
		}
		for _, r := range rs {
			if !r.Time.Equal(start) {
				t.Errorf("record %d (%s at %s) at %s, want the start %s: no simulated time passed", r.Seq, r.Kind, r.Hop, r.Time, start)
			}
		}

		// Two minutes and a second of silence pass at once; the binding has expired.
		time.Sleep(121 * time.Second)
		if d := time.Since(start); d != 121*time.Second {
			t.Fatalf("slept %s of simulated time, want exactly 121s", d)
		}
		write(t, p, "203.0.113.50:40000", "OPTIONS")
		rs = n.Capture().Records()
		expired, dropped := rs[len(rs)-2], rs[len(rs)-1]
		if expired.Kind != sim.BindingExpired || dropped.Kind != sim.Dropped || dropped.Hop != "home-nat" {
			t.Fatalf("after 121s got %s at %s then %s at %s, want binding-expired and dropped at home-nat",
				expired.Kind, expired.Hop, dropped.Kind, dropped.Hop)
		}
		if d := dropped.Time.Sub(rs[0].Time); d != 121*time.Second {
			t.Errorf("drop recorded %s after the first record, want exactly 121s", d)
		}
		if want := "binding 192.168.1.10:5060 -> 203.0.113.50:40000 on home-nat expired (idle 2m1s, timeout 2m0s)"; dropped.Reason != want {
			t.Errorf("drop reason %q, want %q", dropped.Reason, want)
		}
		synctest.Wait()
		select {
		case m := <-ar.msgs:
			t.Fatalf("alice read %q through an expired binding", m)
		default:
		}

		// Alice registers again: a new binding, and the reply to it passes.
		write(t, a, "203.0.113.2:5060", "REGISTER")
		bs := n.NAT("home-nat").Bindings()
		if len(bs) != 1 || !bs[0].Created.Equal(start.Add(121*time.Second)) {
			t.Fatalf("bindings %+v, want one created at +121s", bs)
		}
		write(t, p, bs[0].External.String(), "200 OK")
		synctest.Wait()
		if got := <-ar.msgs; got != "200 OK" {
			t.Fatalf("alice read %q, want 200 OK", got)
		}
		if r := lastRecord(n); r.Kind != sim.Delivered || r.Time.Sub(start) != 121*time.Second {
			t.Errorf("last record %s at +%s, want delivered at +121s", r.Kind, r.Time.Sub(start))
		}
		if s := n.Stats(); s != (sim.Stats{MemorySent: 4, Delivered: 4, Dropped: 1}) {
			t.Errorf("stats %+v", s)
		}

		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		for _, r := range []*reader{pr, ar} {
			for range r.msgs {
			}
			if !errors.Is(r.err, net.ErrClosed) {
				t.Errorf("reader ended with %v, want net.ErrClosed", r.err)
			}
		}
	})
}

// A read deadline of 64*T1 (32 s with T1 = 500 ms, RFC 3261 §17.1.1.2) expires after
// exactly that much simulated time and no wall time to speak of.
func TestMemoryReadDeadlineInSimulatedTime(t *testing.T) {
	wall := time.Now()
	synctest.Test(t, func(t *testing.T) {
		_, a, p := memoryWorld(t)
		start := time.Now()
		if err := a.SetReadDeadline(start.Add(64 * 500 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		_, _, err := a.ReadFrom(make([]byte, 10))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("ReadFrom: %v, want a deadline error", err)
		}
		if d := time.Since(start); d != 32*time.Second {
			t.Errorf("deadline fired after %s, want exactly 32s", d)
		}

		// A deadline moved while a read waits applies to that read.
		errc := make(chan error, 1)
		go func() {
			_, _, err := p.ReadFrom(make([]byte, 10))
			errc <- err
		}()
		synctest.Wait()
		moved := time.Now()
		if err := p.SetReadDeadline(moved.Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("blocked ReadFrom: %v, want a deadline error", err)
		}
		if d := time.Since(moved); d != 5*time.Second {
			t.Errorf("moved deadline fired after %s, want exactly 5s", d)
		}
	})
	if d := time.Since(wall); d > 10*time.Second {
		t.Errorf("37s of simulated time took %s of wall time", d)
	}
}

// Network.Close inside the bubble unblocks every reader and leaves no goroutine behind;
// synctest.Test fails if any bubble goroutine outlives the test function.
func TestMemoryNetworkCloseLeavesNoGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, a, p := memoryWorld(t)
		pr := readAll(p)
		if err := a.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		ar := readAll(a)
		for range 3 {
			write(t, a, "203.0.113.2:5060", "keepalive")
		}
		synctest.Wait() // every reader is durably blocked in ReadFrom
		if len(pr.msgs) != 3 {
			t.Fatalf("proxy read %d datagrams, want 3", len(pr.msgs))
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*reader{pr, ar} {
			for range r.msgs {
			}
			if !errors.Is(r.err, net.ErrClosed) {
				t.Errorf("reader ended with %v, want net.ErrClosed", r.err)
			}
		}
	})
}
