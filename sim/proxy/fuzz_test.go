package proxy_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// FuzzActors feeds arbitrary datagrams to a proxy and a UA in simulated time.
// Neither may panic, both must still answer OPTIONS afterwards, and every
// datagram stays in the capture (sent and delivered, or dropped).
func FuzzActors(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/seed-*.sip")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\n\r\n"))
	f.Add(options(proxyAddr, "seed"))
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := newWorld("correct")
		if err != nil {
			t.Fatal(err)
		}
		defer w.close()
		before := w.net.Capture().Len()
		for _, to := range []netip.AddrPort{proxyAddr, uaAddr} {
			if _, err := w.prober.WriteToAddrPort(data, to); err != nil {
				if len(data) > 65000 {
					return // larger than a UDP datagram: refused, fine
				}
				t.Fatal(err)
			}
		}
		w.settle(100000)
		if w.net.Capture().Len() < before+4 {
			t.Fatalf("the capture holds %d new records for 2 datagrams", w.net.Capture().Len()-before)
		}
		if err := w.alive(); err != nil {
			t.Fatal(err)
		}
	})
}
