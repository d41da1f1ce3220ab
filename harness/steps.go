package harness

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

func (w *world) steps(ctx context.Context, res *Result) error {
	explicit := map[string]bool{}
	for _, st := range w.s.Steps {
		if st.Kind == scenario.StepRegister {
			explicit[st.UA] = true
		}
	}
	// UAs with register-with register before any step, unless a register
	// step does it for them.
	for _, h := range w.s.Hosts {
		if h.Role == scenario.RoleUA && h.RegisterWith != "" && !explicit[h.Name] {
			if err := w.register(ctx, h.Name); err != nil {
				return err
			}
		}
	}
	for _, st := range w.s.Steps {
		var err error
		switch st.Kind {
		case scenario.StepRegister:
			err = w.register(ctx, st.UA)
		case scenario.StepCall:
			err = w.call(ctx, st, res)
		case scenario.StepWait:
			err = w.wait(ctx, st.Wait)
		}
		if err != nil {
			return fmt.Errorf("line %d: %s step: %w", st.Line, st.Kind, err)
		}
	}
	return nil
}

// errBound is returned when a step outlives the bound its RFC timers allow.
var errBound = errors.New("did not finish within the RFC timer bound")

// await waits, in the run's time, until ch is closed, ctx ends or bound
// passes. In simulated time the waiting goroutine drives the clock.
func (w *world) await(ctx context.Context, ch <-chan struct{}, bound time.Duration) error {
	expired := make(chan struct{})
	t := w.clock.AfterFunc(bound, func() { close(expired) })
	defer t.Stop()
	vc, virtual := w.clock.(*sim.VirtualClock)
	for virtual {
		select {
		case <-ch:
			return nil
		case <-expired:
			return fmt.Errorf("%w (%s)", errBound, bound)
		default:
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !vc.Step() {
			return sim.ErrStalled
		}
	}
	select {
	case <-ch:
		return nil
	case <-expired:
		return fmt.Errorf("%w (%s)", errBound, bound)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *world) register(ctx context.Context, name string) error {
	done := make(chan struct{})
	var result error
	if err := w.uas[name].StartRegister(func(err error) {
		result = err
		close(done)
	}); err != nil {
		return err
	}
	if err := w.await(ctx, done, w.s.RegisterBound()); err != nil {
		return fmt.Errorf("register %s: %w", name, err)
	}
	if errors.Is(result, ua.ErrRegisterTimeout) {
		return nil // a fact of the run, in the capture; the UA tries again by itself
	}
	return result
}

func (w *world) wait(ctx context.Context, d time.Duration) error {
	done := make(chan struct{})
	t := w.clock.AfterFunc(d, func() { close(done) })
	defer t.Stop()
	return w.await(ctx, done, d+time.Second)
}

// awaitCond waits, in the run's time, until cond holds (checked after every
// actor event), ctx ends or bound passes.
func (w *world) awaitCond(ctx context.Context, cond func() bool, bound time.Duration) error {
	expired := make(chan struct{})
	t := w.clock.AfterFunc(bound, func() { close(expired) })
	defer t.Stop()
	vc, virtual := w.clock.(*sim.VirtualClock)
	for {
		if cond() {
			return nil
		}
		select {
		case <-expired:
			return fmt.Errorf("%w (%s)", errBound, bound)
		default:
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if virtual {
			if !vc.Step() {
				return sim.ErrStalled
			}
			continue
		}
		select {
		case <-w.wake:
		case <-expired:
		case <-ctx.Done():
		}
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// call places the step's calls, at most Concurrency at a time, and waits
// until both sides have ended each, bounded by the longest the RFC timers
// allow: talk, the callee's ACK timeout, and a BYE transaction's 64*T1 on top.
func (w *world) call(ctx context.Context, st scenario.Step, res *Result) error {
	caller, callee := w.uas[st.From], w.uas[st.To]
	callee.HangUpAfterACK(st.CalleeTalk)
	perCall := w.s.CallBound(st)
	count, conc := max(st.Count, 1), max(st.Concurrency, 1)
	bound := perCall * time.Duration((count+conc-1)/conc)
	via := w.s.Reach(st.From, st.Via)

	type pending struct {
		rec  int // index in res.Placed
		done <-chan struct{}
	}
	var inFlight []pending
	launched := 0
	var dialErr error
	// finished drops the calls whose both sides have ended and tops the
	// flight up; it reports whether the step is over.
	finished := func() bool {
		keep := inFlight[:0]
		for _, p := range inFlight {
			id := res.Placed[p.rec].CallID
			if !closed(p.done) {
				keep = append(keep, p)
				continue
			}
			if d := callee.Done(id); d != nil && !closed(d) {
				keep = append(keep, p)
				continue
			}
			if !caller.Established(id) {
				res.Placed[p.rec].Err = ua.ErrCallFailed.Error()
			}
		}
		inFlight = keep
		for dialErr == nil && launched < count && len(inFlight) < conc {
			launched++
			callID, done, err := caller.Dial(callee.AOR(), via, st.Talk)
			rec := CallRecord{From: st.From, To: st.To, Via: st.Via, CallID: callID}
			if err != nil {
				rec.Err = err.Error()
				dialErr = err
			}
			res.Placed = append(res.Placed, rec)
			if err == nil {
				inFlight = append(inFlight, pending{rec: len(res.Placed) - 1, done: done})
			}
		}
		return len(inFlight) == 0 && (launched == count || dialErr != nil)
	}
	if err := w.awaitCond(ctx, finished, bound); err != nil {
		return fmt.Errorf("call %s -> %s: %d of %d calls still up: %w", st.From, st.To, len(inFlight), count, err)
	}
	return dialErr
}
