package endpoint

import (
	"sync"
	"time"

	"github.com/sipnatlab/sipnatlab/sim"
)

// lingerer is a transaction that ends (terminate) when its time to linger is up.
type lingerer interface{ terminate() }

// linger ends transactions a fixed time after they began to linger (Timers D, H, J, K and
// RFC 6026's L and M), in the order they began: one queue per duration, with one timer for
// its head, instead of a timer for each of the thousands of transactions a run holds.
type linger struct {
	ep   *Endpoint
	d    time.Duration
	base time.Time // the entries' deadlines count from here

	mu    sync.Mutex  // guards the fields below
	q     []lingering // pending from head on, in deadline order
	head  int
	armed sim.Timer // the timer for q[head]; nil when none is set
}

type lingering struct {
	at time.Duration // deadline, since base
	tx lingerer
}

// lingerFor returns the endpoint's queue for transactions that linger for d.
func (e *Endpoint) lingerFor(d time.Duration) *linger {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.lingers[d]
	if l == nil {
		l = &linger{ep: e, d: d, base: e.clock.Now()}
		e.lingers[d] = l
	}
	return l
}

// add ends tx after the queue's duration from now.
func (l *linger) add(tx lingerer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.q = append(l.q, lingering{at: l.ep.clock.Now().Sub(l.base) + l.d, tx: tx})
	l.arm()
}

// arm sets the timer for the head when none is set. Caller holds l.mu.
func (l *linger) arm() {
	if l.armed != nil || l.head == len(l.q) {
		return
	}
	l.armed = l.ep.AfterFunc(max(0, l.q[l.head].at-l.ep.clock.Now().Sub(l.base)), l.fire)
}

// fire ends every transaction whose time is up, then sets the timer for the next.
func (l *linger) fire() {
	now := l.ep.clock.Now().Sub(l.base)
	l.mu.Lock()
	var due []lingerer
	for l.head < len(l.q) && l.q[l.head].at <= now {
		due = append(due, l.q[l.head].tx)
		l.q[l.head] = lingering{}
		l.head++
	}
	if l.head > len(l.q)/2 { // reuse the front half rather than grow
		n := copy(l.q, l.q[l.head:])
		clear(l.q[n:])
		l.q, l.head = l.q[:n], 0
	}
	l.armed = nil
	l.arm()
	l.mu.Unlock()
	for _, tx := range due {
		tx.terminate()
	}
}
