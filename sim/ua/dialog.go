package ua

import (
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

// dialog is one call of the UA, caller or callee side: the dialog state of
// RFC 3261 §12 and the timers of its 2xx/ACK exchange. Its fields are guarded
// by the UA's mu.
type dialog struct {
	callID       string
	caller       bool
	localTag     string
	remoteTag    string
	localURI     sip.Uri
	remoteURI    sip.Uri
	remoteTarget sip.Uri
	routeSet     []sip.Uri
	cseq         uint32
	established  bool
	ended        bool
	done         chan struct{}

	// caller side
	ack       *sip.Request
	ackDst    netip.AddrPort
	talkTimer sim.Timer

	// callee side
	ok         *sip.Response
	okTx       *endpoint.ServerTx
	okFirst    time.Time
	okInterval time.Duration // current retransmission interval
	okNext     time.Duration // offset of the next retransmission from okFirst
	okTimer    sim.Timer
	ackTimer   sim.Timer
	acked      bool
	gaveUp     bool // the ACK timeout passed: no more 2xx retransmissions
}

// inDialogRequest builds a request within d (RFC 3261 §12.2.1.1). Caller
// holds u.mu.
func (u *UA) inDialogRequest(d *dialog, method sip.RequestMethod, seq uint32) *sip.Request {
	req := u.newRequest(method, d.remoteTarget, d.callID, seq, d.localURI, d.remoteURI, d.localTag, d.remoteTag)
	for _, r := range d.routeSet {
		req.AppendHeader(&sip.RouteHeader{Address: *r.Clone()})
	}
	if method != sip.ACK {
		req.AppendHeader(u.contactHeader())
	}
	req.SetBody(nil)
	return req
}

// nextHop is where an in-dialog request goes: the first route (loose
// routing) or the remote target. Caller holds u.mu.
func (u *UA) nextHop(d *dialog) (netip.AddrPort, error) {
	if len(d.routeSet) > 0 {
		return endpoint.URIAddr(d.routeSet[0])
	}
	return endpoint.URIAddr(d.remoteTarget)
}

// hangUp sends BYE within d and ends the dialog on its final response or
// timeout.
func (u *UA) hangUp(d *dialog) {
	u.mu.Lock()
	if d.ended || u.closed {
		u.mu.Unlock()
		return
	}
	d.cseq++
	bye := u.inDialogRequest(d, sip.BYE, d.cseq)
	dst, err := u.nextHop(d)
	u.mu.Unlock()
	if err != nil {
		u.endDialog(d, CallEnded, "BYE cannot be routed: %v", err)
		return
	}
	u.emit(BYESent, d.callID, "BYE %s to %s", bye.Recipient.String(), dst)
	_, err = u.ep.Request(bye, dst, func(res *sip.Response) {
		switch {
		case res == nil:
			u.endDialog(d, CallEnded, "BYE got no response (Timer F)")
		case res.StatusCode >= 200:
			u.endDialog(d, CallEnded, "BYE answered %d %s", res.StatusCode, res.Reason)
		}
	})
	if err != nil {
		u.endDialog(d, CallEnded, "BYE not sent: %v", err)
	}
}

func (u *UA) stopDialogTimers(d *dialog) {
	for _, t := range []sim.Timer{d.talkTimer, d.okTimer, d.ackTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

// endedDialog is what a UA keeps of an ended dialog, enough to answer late messages
// (a retransmitted INVITE, a late ACK or BYE) and Established: a UA that placed or
// answered many calls keeps a few bytes of each ended one instead of its dialog.
type endedDialog struct {
	okFirst time.Time // callee: when the first 2xx went out
	flags   uint8
}

const (
	endedCaller uint8 = 1 << iota
	endedEstablished
	endedAcked
)

// endedRecord is d's endedDialog. Caller holds u.mu.
func (d *dialog) endedRecord() endedDialog {
	e := endedDialog{okFirst: d.okFirst}
	if d.caller {
		e.flags |= endedCaller
	}
	if d.established {
		e.flags |= endedEstablished
	}
	if d.acked {
		e.flags |= endedAcked
	}
	return e
}

// isEnded reports whether the UA had a dialog callID that has ended. Caller holds u.mu.
func (u *UA) isEnded(callID string) bool {
	_, ok := u.ended[callID]
	return ok
}

// lateAck handles an ACK for a dialog that is not live: for an ended one the callee had
// answered, the first such ACK is reported as received, after the dialog ended. Caller
// holds u.mu; lateAck releases it.
func (u *UA) lateAck(callID string) {
	e, ok := u.ended[callID]
	if !ok || e.flags&(endedCaller|endedAcked) != 0 {
		u.mu.Unlock()
		return
	}
	e.flags |= endedAcked
	u.ended[callID] = e
	delay := u.ep.Clock().Now().Sub(e.okFirst)
	u.mu.Unlock()
	u.emitACKReceived(callID, delay)
}

// emitACKReceived reports the ACK for the callee's 2xx of call callID, delay after the first.
func (u *UA) emitACKReceived(callID string, delay time.Duration) {
	u.emit(ACKReceived, callID, "ACK received %s after the first 200 OK", delay.Round(time.Millisecond))
}

// release drops what only a live dialog needs: its messages, server transaction, URIs,
// route set and timers. An ended dialog answers late messages from its flags alone
// (caller, established, acked, ended), so a UA that placed or answered many calls keeps
// a small record of each ended one instead of its 2xx, ACK and transaction. Caller holds
// u.mu, after stopping the timers.
func (d *dialog) release() {
	d.ack, d.ok, d.okTx, d.routeSet = nil, nil, nil, nil
	d.localURI, d.remoteURI, d.remoteTarget = sip.Uri{}, sip.Uri{}, sip.Uri{}
	d.talkTimer, d.okTimer, d.ackTimer = nil, nil, nil
}

func (u *UA) endDialog(d *dialog, kind EventKind, format string, args ...any) {
	u.mu.Lock()
	if d.ended {
		u.mu.Unlock()
		return
	}
	d.ended = true
	u.stopDialogTimers(d)
	d.release()
	close(d.done)
	if u.dialogs[d.callID] == d {
		delete(u.dialogs, d.callID)
		u.ended[d.callID] = d.endedRecord()
	}
	u.mu.Unlock()
	u.emit(kind, d.callID, format, args...)
}

// Done returns a channel closed when this UA's side of the call ended. It
// returns nil when the UA has no such call.
func (u *UA) Done(callID string) <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	if d, ok := u.dialogs[callID]; ok {
		return d.done
	}
	if u.isEnded(callID) {
		return u.doneCh
	}
	return nil
}
