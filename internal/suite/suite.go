// Package suite forwards to the public package sipnattest for branches written before
// the leak guard moved there.
//
// Deprecated: import github.com/sipnatlab/sipnatlab/sipnattest.
package suite

import "github.com/sipnatlab/sipnatlab/sipnattest"

// GuardLeaks is sipnattest.GuardLeaks.
//
// Deprecated: use sipnattest.GuardLeaks.
func GuardLeaks() bool { return sipnattest.GuardLeaks() }
