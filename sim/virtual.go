package sim

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"
)

// ErrStalled is returned by [VirtualClock.Await] when nothing is left to run
// but the awaited event has not happened: the run can make no progress.
var ErrStalled = errors.New("simulated time stalled: no pending event")

// VirtualClock is simulated time for a whole run. Timers, and the deliveries
// of the memory carrier when a Conn has a receiver (see [Conn.SetReceiver]),
// are events in one queue, run one at a time, in time order and FIFO among
// equal times, by the goroutine that drives the clock with [VirtualClock.Step]
// or [VirtualClock.Await]. A run on it is deterministic, and 64*T1 of RFC 3261
// timers passes in microseconds. Now and AfterFunc may be called from any
// goroutine, but events run only in the driving one.
type VirtualClock struct {
	mu    sync.Mutex // guards the fields below
	now   time.Time
	seq   uint64
	queue events
}

// NewVirtualClock returns a clock whose time starts at start and moves only
// when an event runs.
func NewVirtualClock(start time.Time) *VirtualClock {
	return &VirtualClock{now: start}
}

// Now returns the simulated time.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run d after Now (d <= 0: after the events already
// due now). f runs in the goroutine that drives the clock, not in a goroutine
// of its own.
func (c *VirtualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	e := &event{at: c.now.Add(max(d, 0)), seq: c.seq, f: f, clock: c}
	heap.Push(&c.queue, e)
	return e
}

// Pending reports how many events are scheduled.
func (c *VirtualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// Step runs the earliest event, first moving Now to its time. It reports
// false when no event is pending.
func (c *VirtualClock) Step() bool {
	c.mu.Lock()
	if len(c.queue) == 0 {
		c.mu.Unlock()
		return false
	}
	e := heap.Pop(&c.queue).(*event)
	e.index = -1
	c.now = e.at
	c.mu.Unlock()
	e.f()
	return true
}

// Settle runs the events due at the current time, and those they schedule
// for it (datagrams still in flight), without moving the time on.
func (c *VirtualClock) Settle() {
	for {
		c.mu.Lock()
		due := len(c.queue) > 0 && !c.queue[0].at.After(c.now)
		c.mu.Unlock()
		if !due || !c.Step() {
			return
		}
	}
}

// Await runs events until done is closed. It returns ctx's error if ctx ends
// first, and ErrStalled if no event is left while done is still open.
func (c *VirtualClock) Await(ctx context.Context, done <-chan struct{}) error {
	for {
		select {
		case <-done:
			return nil
		default:
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !c.Step() {
			select {
			case <-done:
				return nil
			default:
				return ErrStalled
			}
		}
	}
}

// event is one scheduled call; as a Timer, Stop removes it from the queue.
type event struct {
	at    time.Time
	seq   uint64
	f     func()
	clock *VirtualClock
	index int // position in the heap, -1 once run or stopped
}

// Stop removes the event if it has not run; it reports whether it did.
func (e *event) Stop() bool {
	c := e.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.index < 0 {
		return false
	}
	heap.Remove(&c.queue, e.index)
	e.index = -1
	return true
}

// events is a min-heap by (at, seq).
type events []*event

func (q events) Len() int { return len(q) }
func (q events) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q events) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}
func (q *events) Push(x any) {
	e := x.(*event)
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *events) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}
