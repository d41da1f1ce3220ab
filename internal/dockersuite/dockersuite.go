// Package dockersuite forwards to the public package sipnattest/dockersuite for
// branches written before the Docker gating moved there.
//
// Deprecated: import github.com/sipnatlab/sipnatlab/sipnattest/dockersuite.
package dockersuite

import (
	"context"

	"github.com/sipnatlab/sipnatlab/sipnattest/dockersuite"
)

// RequireKamailio is dockersuite.RequireKamailio.
//
// Deprecated: use sipnattest/dockersuite.RequireKamailio.
func RequireKamailio(ctx context.Context, script string) { dockersuite.RequireKamailio(ctx, script) }

// RequireOpenSIPS is dockersuite.RequireOpenSIPS.
//
// Deprecated: use sipnattest/dockersuite.RequireOpenSIPS.
func RequireOpenSIPS(ctx context.Context, root string) string {
	return dockersuite.RequireOpenSIPS(ctx, root)
}
