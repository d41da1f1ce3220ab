package sim

import "time"

// Clock is the one time source of a run. Everything in the fabric that needs the time asks
// the Clock of its [Network]; nothing reads the wall clock directly.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed and returns a Timer that
	// cancels the call.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call scheduled with [Clock.AfterFunc].
type Timer interface {
	// Stop prevents the call from firing; it reports whether the call was stopped before
	// it fired.
	Stop() bool
}

// SystemClock is the Clock backed by package time. Inside a testing/synctest bubble it
// therefore runs on simulated time. Its zero value is ready to use.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
