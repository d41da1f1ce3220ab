package trace

import (
	"fmt"
	"testing"
)

// The cache keeps at most cachedMessages parsed messages, evicts the oldest first, and
// parses an evicted message again to an equal one.
func TestMessagesBounded(t *testing.T) {
	c := newMessages()
	payload := func(i int) []byte {
		return fmt.Appendf(nil, "OPTIONS sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK%d\r\n"+
			"From: <sip:a@192.0.2.2>;tag=1\r\nTo: <sip:bob@192.0.2.1>\r\nCall-ID: call-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", i, i)
	}
	first := c.get(1, payload(1))
	if first == nil {
		t.Fatal("a valid OPTIONS did not parse")
	}
	if again := c.get(1, payload(1)); again != first {
		t.Fatal("a cached message was parsed again")
	}
	for i := 2; i <= cachedMessages+10; i++ {
		if c.get(i, payload(i)) == nil {
			t.Fatalf("message %d did not parse", i)
		}
	}
	if len(c.m) != cachedMessages || len(c.ring) != cachedMessages {
		t.Fatalf("%d messages and %d ring entries cached, want %d", len(c.m), len(c.ring), cachedMessages)
	}
	if _, ok := c.m[1]; ok {
		t.Fatal("the oldest message was not evicted")
	}
	if _, ok := c.m[cachedMessages+10]; !ok {
		t.Fatal("the newest message is not cached")
	}
	again := c.get(1, payload(1))
	if again == first || again.String() != first.String() {
		t.Fatalf("an evicted message came back as %p %q, want a fresh parse equal to %q", again, again, first)
	}
	if c.get(0, []byte("garbage")) != nil {
		t.Fatal("garbage parsed as a message")
	}
}
