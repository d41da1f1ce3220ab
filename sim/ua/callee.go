package ua

import (
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

// CauseACKTimeout is the cause of the note a callee records when the ACK for
// its 2xx did not come within its ACK timeout and it hangs up
// (RFC 3261 §13.3.1.4).
const CauseACKTimeout sim.Cause = "ack-timeout"

// HangUpAfterACK makes the UA, as a callee, send BYE this long after the ACK of each
// call it answers from now on; zero (the default) leaves hanging up to the caller.
func (u *UA) HangUpAfterACK(d time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.hangUpIn = d
}

// onInvite answers at once with 200 OK and starts retransmitting it until
// the ACK arrives: T1, 2*T1, ... capped at T2 (RFC 3261 §13.3.1.4), giving
// up after the ACK timeout with a BYE.
func (u *UA) onInvite(req *sip.Request, tx *endpoint.ServerTx) {
	callID := req.CallID().Value()
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return
	}
	if _, live := u.dialogs[callID]; live || u.isEnded(callID) {
		u.mu.Unlock()
		_ = tx.Respond(u.ep.NewResponse(req, 491, "Request Pending", nil))
		return
	}
	fromTag, _ := req.From().Params.Get("tag")
	res := u.ep.NewResponse(req, 200, "OK", u.sdp()) // with our To tag (RFC 3261 §12.1.1)
	localTag, _ := res.To().Params.Get("tag")
	d := &dialog{
		callID:    callID,
		localTag:  localTag,
		remoteTag: fromTag,
		localURI:  req.To().Address,
		remoteURI: req.From().Address,
		cseq:      0,
		done:      make(chan struct{}),
		okTx:      tx,
	}
	if c := req.Contact(); c != nil {
		d.remoteTarget = *c.Address.Clone()
	} else {
		d.remoteTarget = req.From().Address
	}
	for _, h := range req.GetHeaders("Record-Route") {
		d.routeSet = append(d.routeSet, *h.(*sip.RecordRouteHeader).Address.Clone())
	}
	res.AppendHeader(u.contactHeader())
	ct := sip.ContentTypeHeader("application/sdp")
	res.AppendHeader(&ct)
	d.ok = res
	d.established = true
	d.okInterval = u.timers.T1
	d.okNext = u.timers.T1
	u.dialogs[callID] = d
	u.mu.Unlock()

	u.emit(InviteReceived, callID, "INVITE %s from %s", req.Recipient.String(), req.From().Address.String())
	_ = tx.Respond(res)
	// The schedule starts once the 2xx is on the wire, so no retransmission
	// comes earlier than T1, 3*T1, 7*T1 ... after it.
	u.mu.Lock()
	d.okFirst = u.ep.Clock().Now()
	if !d.acked && !d.ended && !u.closed {
		d.okTimer = u.ep.AfterFunc(d.okInterval, func() { u.retransmitOK(d) })
		d.ackTimer = u.ep.AfterFunc(u.cfg.AckTimeout, func() { u.ackTimeout(d) })
	}
	u.mu.Unlock()
	u.emit(OKSent, callID, "200 OK with Contact %s", u.contactString())
}

func (u *UA) retransmitOK(d *dialog) {
	u.mu.Lock()
	if d.acked || d.gaveUp || d.ended || u.closed {
		u.mu.Unlock()
		return
	}
	// Schedule against the first 2xx, not the last firing, so timer lateness
	// does not accumulate: retransmissions at T1, 3*T1, 7*T1 ... after it.
	d.okInterval = min(2*d.okInterval, u.timers.T2)
	d.okNext += d.okInterval
	d.okTimer = u.ep.AfterFunc(d.okFirst.Add(d.okNext).Sub(u.ep.Clock().Now()), func() { u.retransmitOK(d) })
	res, tx := d.ok, d.okTx
	u.mu.Unlock()
	_ = tx.Respond(res)
	u.emit(OKRetransmitted, d.callID, "200 OK retransmitted, no ACK after %s", u.ep.Clock().Now().Sub(d.okFirst).Round(time.Millisecond))
}

func (u *UA) ackTimeout(d *dialog) {
	u.mu.Lock()
	if d.acked || d.ended || u.closed {
		u.mu.Unlock()
		return
	}
	d.gaveUp = true
	if d.okTimer != nil {
		d.okTimer.Stop()
	}
	u.mu.Unlock()
	u.emit(ACKTimeout, d.callID, "no ACK for the 200 OK within %s: ending the call (RFC 3261 §13.3.1.4)", u.cfg.AckTimeout)
	u.ep.Note(false, d.callID, CauseACKTimeout, fmt.Sprintf("no ACK for the 2xx within %s: hanging up", u.cfg.AckTimeout))
	u.hangUp(d)
}

func (u *UA) onAck(req *sip.Request) {
	callID := req.CallID().Value()
	u.mu.Lock()
	d, ok := u.dialogs[callID]
	if !ok {
		u.lateAck(callID)
		return
	}
	if d.caller || d.acked {
		u.mu.Unlock()
		return
	}
	d.acked = true
	if d.okTimer != nil {
		d.okTimer.Stop()
	}
	if d.ackTimer != nil {
		d.ackTimer.Stop()
	}
	delay := u.ep.Clock().Now().Sub(d.okFirst)
	if u.hangUpIn > 0 && !d.ended && !u.closed {
		d.talkTimer = u.ep.AfterFunc(u.hangUpIn, func() { u.hangUp(d) })
	}
	u.mu.Unlock()
	u.emitACKReceived(callID, delay)
}

func (u *UA) onBye(req *sip.Request, tx *endpoint.ServerTx) {
	callID := req.CallID().Value()
	u.mu.Lock()
	d, ok := u.dialogs[callID]
	ended := u.isEnded(callID)
	u.mu.Unlock()
	if !ok && !ended {
		_ = tx.Respond(u.ep.NewResponse(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	u.emit(BYEReceived, callID, "BYE from %s", req.From().Address.String())
	_ = tx.Respond(u.ep.NewResponse(req, 200, "OK", nil))
	if ok {
		u.endDialog(d, CallEnded, "ended by the other side's BYE")
	}
}
