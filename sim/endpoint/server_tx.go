package endpoint

import (
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim"
)

// ServerTx is a server transaction (RFC 3261 §17.2). Respond sends a response
// towards the top Via; retransmitted requests get the last response again. An INVITE
// transaction whose final response is a non-2xx retransmits it itself until the ACK
// comes (Timer G, §17.2.1).
//
// A transaction lingers for 64*T1 after its final response, so a run holds thousands of
// them: each keeps its last response as the bytes it sent, not as a parsed message, and
// none for a 2xx to INVITE, which only the UA core sends again.
type ServerTx struct {
	ep     *Endpoint
	key    string
	invite bool // the request is an INVITE

	mu     sync.Mutex // guards the fields below
	last   []byte     // the last response as sent, to send again
	lastTo netip.AddrPort
	lastOK bool          // the last response is a 2xx
	final  bool          // a final response was sent: the transaction lingers (Timers H and J)
	g      sim.Timer     // Timer G while the non-2xx final to an INVITE waits for its ACK
	gNext  time.Duration // Timer G's next interval: T1, doubling up to T2
	acked  bool          // the ACK for a non-2xx final to INVITE came (state Confirmed)
	ending bool          // the transaction was removed or the endpoint closed: no more sends
}

// Respond sends res towards its top Via. A final response schedules the
// transaction's removal after 64*T1 (Timers H/J, simplified); retransmitted
// 2xx for INVITE are the UA core's job (RFC 3261 §13.3.1.4) and go out
// through Respond too.
func (tx *ServerTx) Respond(res *sip.Response) error {
	dst, err := ResponseTarget(res)
	if err != nil {
		return err
	}
	b := []byte(res.String())
	tx.mu.Lock()
	tx.last, tx.lastTo, tx.lastOK = b, dst, res.IsSuccess()
	if tx.lastOK && tx.invite {
		// A 2xx to INVITE is retransmitted by the UA core, never by the transaction
		// (retransmission): a lingering transaction need not keep it.
		tx.last = nil
	}
	if res.StatusCode >= 200 && !tx.final {
		tx.final = true
		tx.ep.lingerFor(tx.ep.timers.TransactionTimeout()).add(tx)
		if res.StatusCode >= 300 && tx.invite {
			tx.gNext = tx.ep.timers.T1
			tx.g = tx.ep.AfterFunc(tx.gNext, tx.timerG)
		}
	}
	tx.mu.Unlock()
	return tx.ep.sendBytes(b, dst)
}

// timerG retransmits the non-2xx final response to an INVITE whose ACK has not come,
// at T1, 2*T1, … capped at T2 (RFC 3261 §17.2.1), until the ACK or Timer H (64*T1).
func (tx *ServerTx) timerG() {
	tx.mu.Lock()
	if tx.acked || tx.ending {
		tx.mu.Unlock()
		return
	}
	last, dst := tx.last, tx.lastTo
	tx.gNext = min(2*tx.gNext, tx.ep.timers.T2)
	tx.g = tx.ep.AfterFunc(tx.gNext, tx.timerG)
	tx.mu.Unlock()
	_ = tx.ep.sendBytes(last, dst)
}

// ack notes the ACK for a non-2xx final response (state Confirmed): Timer G stops.
func (tx *ServerTx) ack() {
	tx.mu.Lock()
	tx.acked = true
	g := tx.g
	tx.mu.Unlock()
	if g != nil {
		g.Stop()
	}
}

func (tx *ServerTx) retransmission() {
	tx.mu.Lock()
	last, dst, ok := tx.last, tx.lastTo, tx.lastOK
	tx.mu.Unlock()
	if last == nil || (ok && tx.invite) {
		// A 2xx is retransmitted by the UA core on its own schedule.
		return
	}
	_ = tx.ep.sendBytes(last, dst)
}

// stopTimer ends the transaction's sends: Timer G stops and nothing goes out any more.
func (tx *ServerTx) stopTimer() {
	tx.mu.Lock()
	tx.ending = true
	if tx.g != nil {
		tx.g.Stop()
	}
	tx.mu.Unlock()
}

// terminate ends the transaction when its time to linger is up (Timers H and J): a
// retransmitted request after it is a new one.
func (tx *ServerTx) terminate() {
	tx.stopTimer()
	tx.ep.mu.Lock()
	if tx.ep.servers[tx.key] == tx {
		delete(tx.ep.servers, tx.key)
	}
	tx.ep.mu.Unlock()
}
