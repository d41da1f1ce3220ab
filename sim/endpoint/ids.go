package endpoint

import (
	"crypto/sha1"
	"encoding/hex"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"sync"
)

// MagicCookie starts every branch an RFC 3261 element generates (§8.1.1.7).
const MagicCookie = "z9hG4bK"

// IDs is a reproducible source of the identifiers a SIP element generates:
// Call-IDs, tags and branches. Each host has its own, so one host's
// identifiers do not depend on what another host did. Its methods may be
// called concurrently; the sequence they return together is fixed by the
// seed, the name and the order of the calls.
type IDs struct {
	mu  sync.Mutex // guards rng
	rng *rand.Rand
}

// NewIDs returns the identifier source of the host name in a run seeded with
// seed: a PCG generator keyed by both, so equal seeds and names give equal
// sequences.
func NewIDs(seed uint64, name string) *IDs {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return &IDs{rng: rand.New(rand.NewPCG(seed, h.Sum64()))}
}

// randomIDs is the source of an endpoint given none: seeded randomly.
func randomIDs(name string) *IDs { return NewIDs(rand.Uint64(), name) }

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

func (ids *IDs) word(n int) string {
	b := make([]byte, n)
	ids.mu.Lock()
	for i := range b {
		b[i] = idAlphabet[ids.rng.IntN(len(idAlphabet))]
	}
	ids.mu.Unlock()
	return string(b)
}

// Branch returns a new Via branch: the magic cookie and 16 characters
// (RFC 3261 §8.1.1.7, unique with the probability of 82 random bits).
func (ids *IDs) Branch() string { return MagicCookie + ids.word(16) }

// Tag returns a new From or To tag of 10 characters (RFC 3261 §19.3).
func (ids *IDs) Tag() string { return ids.word(10) }

// CallID returns a new Call-ID of 20 characters (RFC 3261 §8.1.1.4).
func (ids *IDs) CallID() string { return ids.word(20) }

// DerivedBranch returns a branch deterministic in the incoming branch and the
// element's address, as a stateless proxy computes it (RFC 3261 §16.11).
func DerivedBranch(incoming string, self netip.AddrPort) string {
	sum := sha1.Sum([]byte(incoming + "|" + self.String()))
	return MagicCookie + hex.EncodeToString(sum[:8])
}
