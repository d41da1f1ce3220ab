package sim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// memoryQueueLen bounds each receive queue of the memory carrier; a datagram arriving at a
// full queue is dropped, like one arriving at a full socket receive buffer.
const memoryQueueLen = 4096

// errQueueFull is returned by a memory socket's send when the receiver's queue is full.
var errQueueFull = errors.New("receive queue full")

// memory is the carrier without sockets: every endpoint is a buffered channel. Sending
// never blocks and receiving blocks only on channels and timers, which inside a
// testing/synctest bubble count as durably blocking, so simulated time can advance.
type memory struct{}

func (memory) open() (socket, error) {
	return &memSocket{
		queue:   make(chan frame, memoryQueueLen),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}, nil
}

// memSocket is one endpoint of the memory carrier. Deadlines are measured by package time,
// as a real socket's are; inside a synctest bubble that is simulated time.
type memSocket struct {
	queue     chan frame
	done      chan struct{} // closed by close
	closeOnce sync.Once

	mu            sync.Mutex    // guards the fields below
	push          func(frame)   // set by Conn.SetReceiver: deliver as a clock event, no queue
	pushClock     *VirtualClock // the clock that runs push deliveries
	readDeadline  time.Time
	writeDeadline time.Time
	changed       chan struct{} // closed and replaced when the read deadline changes
}

// send queues f on to without blocking. A frame for a closed socket vanishes without an
// error, as a datagram to a closed UDP port does.
func (s *memSocket) send(to socket, f frame) error {
	dst, ok := to.(*memSocket)
	if !ok {
		return fmt.Errorf("memory carrier: cannot send to %T", to)
	}
	if s.closed() {
		return net.ErrClosed
	}
	s.mu.Lock()
	wd := s.writeDeadline
	s.mu.Unlock()
	if !wd.IsZero() && !time.Now().Before(wd) {
		return os.ErrDeadlineExceeded
	}
	if dst.closed() {
		return nil
	}
	dst.mu.Lock()
	push, clock := dst.push, dst.pushClock
	dst.mu.Unlock()
	if push != nil {
		clock.AfterFunc(0, func() {
			if !dst.closed() {
				push(f)
			}
		})
		return nil
	}
	select {
	case dst.queue <- f:
		return nil
	default:
		return errQueueFull
	}
}

// recv waits for the next frame, the read deadline or close, whichever comes first. A
// deadline set while recv waits takes effect at once.
func (s *memSocket) recv([]byte) (frame, error) {
	for {
		if s.closed() {
			return frame{}, net.ErrClosed
		}
		s.mu.Lock()
		dl, changed := s.readDeadline, s.changed
		s.mu.Unlock()
		var timer *time.Timer
		var expired <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return frame{}, os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(d)
			expired = timer.C
		}
		select {
		case f := <-s.queue:
			stop(timer)
			return f, nil
		case <-s.done:
			stop(timer)
			return frame{}, net.ErrClosed
		case <-expired:
			return frame{}, os.ErrDeadlineExceeded
		case <-changed:
			stop(timer)
		}
	}
}

func stop(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

func (s *memSocket) close() error {
	s.closeOnce.Do(func() { close(s.done) })
	return nil
}

func (s *memSocket) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *memSocket) setReadDeadline(t time.Time) error {
	if s.closed() {
		return net.ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readDeadline = t
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func (s *memSocket) setWriteDeadline(t time.Time) error {
	if s.closed() {
		return net.ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeDeadline = t
	return nil
}
