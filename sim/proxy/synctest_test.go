package proxy_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
)

// TestLostACKInABubble runs the no-NAT-handling case with the actors on
// their own goroutines, the memory carrier and package time inside a
// testing/synctest bubble: sipgo's parser and our transactions need nothing
// a bubble forbids, so the 32 s the callee waits for its ACK pass at once,
// to the nanosecond. (The harness uses sim.VirtualClock instead, which also
// serves the CLI and Ginkgo, where there is no *testing.T to make a bubble.)
func TestLostACKInABubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, proxy.Config{Registrar: true, Handling: proxy.HandlingNone})
		defer b.closeActors()
		n, reg, bob, alice := b.net, b.reg, b.bob, b.alice
		start := time.Now()
		callID, err := alice.Call(context.Background(), bob.AOR(), reg, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		<-bob.Done(callID)
		synctest.Wait()

		var oks []time.Time
		var bye time.Time
		for _, r := range n.Capture().Records() {
			if r.Kind != sim.Sent || r.Hop != "bob" {
				continue
			}
			switch d := string(r.Data); {
			case strings.HasPrefix(d, "SIP/2.0 200") && strings.Contains(d, "INVITE\r\n"):
				oks = append(oks, r.Time)
			case strings.HasPrefix(d, "BYE "):
				bye = r.Time
			}
		}
		if len(oks) != 11 {
			t.Fatalf("bob sent the 200 OK %d times, want 11 (10 retransmissions)", len(oks))
		}
		want := []time.Duration{0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500}
		for i, at := range oks {
			if got := at.Sub(oks[0]); got != want[i]*time.Millisecond {
				t.Errorf("200 OK %d at +%s, want +%s", i, got, want[i]*time.Millisecond)
			}
		}
		if got := bye.Sub(oks[0]); got != 32*time.Second {
			t.Errorf("bob's BYE at +%s, want +32s", got)
		}
		if since := time.Since(start); since < 32*time.Second {
			t.Errorf("the call took %s of bubble time", since)
		}
	})
}
