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
		ready:   make(chan struct{}, 1),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}, nil
}

// memSocket is one endpoint of the memory carrier. Deadlines are measured by package time,
// as a real socket's are; inside a synctest bubble that is simulated time.
type memSocket struct {
	ready     chan struct{} // holds a token while queue may be non-empty
	done      chan struct{} // closed by close
	closeOnce sync.Once

	mu            sync.Mutex    // guards the fields below
	queue         []frame       // frames not yet read, oldest first; grows as needed, up to memoryQueueLen
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
	dst.mu.Lock()
	if len(dst.queue) >= memoryQueueLen {
		dst.mu.Unlock()
		return errQueueFull
	}
	dst.queue = append(dst.queue, f)
	dst.mu.Unlock()
	select {
	case dst.ready <- struct{}{}:
	default: // a token is there already
	}
	return nil
}

// pop takes the oldest queued frame, if any.
func (s *memSocket) pop() (frame, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return frame{}, false
	}
	f := s.queue[0]
	s.queue[0] = frame{}
	s.queue = s.queue[1:]
	if len(s.queue) == 0 {
		s.queue = nil // let a drained burst's array go
	} else {
		select {
		case s.ready <- struct{}{}: // more to read
		default:
		}
	}
	return f, true
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
		if f, ok := s.pop(); ok {
			stop(timer)
			return f, nil
		}
		select {
		case <-s.ready:
			stop(timer)
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
