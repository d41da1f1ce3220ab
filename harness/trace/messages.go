package trace

import (
	"sync"

	"github.com/emiago/sipgo/sip"
)

// cachedMessages bounds the parsed messages a Trace keeps: about 2.3 KB each for the
// messages of a call through two proxies, so at most about 10 MB.
const cachedMessages = 1 << 12

// messages is a Trace's bounded cache of parsed SIP messages: the datagrams that hold
// one, oldest first once full, whose message is dropped when the cache needs its place.
// It is safe for concurrent use.
type messages struct {
	mu   sync.Mutex // guards the fields below
	p    *sip.Parser
	ring []*Datagram
	next int // the oldest entry of a full ring
}

func newMessages() *messages { return &messages{p: sip.NewParser()} }

// parse parses data; nil when it is no SIP message.
func (c *messages) parse(data []byte) sip.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.p.ParseSIP(data)
	if err != nil {
		return nil
	}
	return m
}

// load parses d's payload again, unless another reader just did, and keeps the message.
func (c *messages) load(d *Datagram) sip.Message {
	data := d.Payload() // read before locking: from a spilled log it is a file read
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := d.msg.Load(); p != nil {
		return p.m
	}
	m, err := c.p.ParseSIP(data)
	if err != nil {
		return nil
	}
	c.keep(d, m)
	return m
}

// loadArrived parses the payload d's ALG record holds and keeps it beside d's message,
// which it parses again when the cache dropped it, so that both leave the cache
// together.
func (c *messages) loadArrived(d *Datagram) sip.Message {
	if d.flags&isSIP != 0 && d.msg.Load() == nil {
		c.load(d)
	}
	data := d.ReceivedPayload()
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := d.arrived.Load(); p != nil {
		return p.m
	}
	m, err := c.p.ParseSIP(data)
	if err != nil {
		return nil
	}
	if d.flags&isSIP != 0 {
		d.arrived.Store(&parsed{m})
	}
	return m
}

// keep gives d its message m, dropping the oldest kept message when full. Callers hold
// mu or own the Trace alone (New).
func (c *messages) keep(d *Datagram, m sip.Message) {
	d.msg.Store(&parsed{m})
	if len(c.ring) < cachedMessages {
		c.ring = append(c.ring, d)
		return
	}
	c.ring[c.next].msg.Store(nil)
	c.ring[c.next].arrived.Store(nil)
	c.ring[c.next] = d
	c.next = (c.next + 1) % cachedMessages
}
