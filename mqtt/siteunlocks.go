package mqtt

import "fmt"

// The unlock list: each gate publishes, retained on <prefix>/site/unlocks,
// the signed cmd/unlock commands it issued within the liveness lockout's
// horizon (SiteSource.Unlocks). A gate that was away when one went out
// (its broker session lost it, it was offline for longer than max_skew,
// or the sender was offline and could only sign it) reads the lists with
// the snapshots and applies each unlock it has not applied: the same
// command, verified by its signature, without the time window and the
// replay memory (VerifyListedUnlock).

const (
	unlockListFormat = "facegate-site-unlocks"
	// MaxListedUnlocks bounds a gate's unlock list (the newest; an
	// operator unlocking more identities within the horizon must unlock
	// the others at each gate).
	MaxListedUnlocks = 256
	// maxUnlockListBytes refuses a larger list before decoding it: each
	// command is at most MaxOpenPayload bytes, quoted.
	maxUnlockListBytes = MaxListedUnlocks*(2*MaxOpenPayload+8) + 1024
	maxUnlockListName  = 128
)

// unlockList is the payload of <site_topic>/<gate>/site/unlocks. Each
// unlock is the exact signed cmd/unlock payload as a JSON string, so that
// its signed bytes survive any re-encoding.
type unlockList struct {
	Format  string   `json:"format"`
	Version int      `json:"version"`
	Site    string   `json:"site"`
	Gate    string   `json:"gate"`
	Unlocks []string `json:"unlocks"`
}

// encodeUnlockList is the retained list of site and gate: the newest
// MaxListedUnlocks of unlocks (oldest first).
func encodeUnlockList(site, gate string, unlocks [][]byte) []byte {
	if len(unlocks) > MaxListedUnlocks {
		unlocks = unlocks[len(unlocks)-MaxListedUnlocks:]
	}
	l := unlockList{Format: unlockListFormat, Version: 1, Site: site, Gate: gate, Unlocks: make([]string, len(unlocks))}
	for i, u := range unlocks {
		l.Unlocks[i] = string(u)
	}
	return mustJSON(l)
}

// parseUnlockList decodes a peer's unlock list strictly: at most
// maxUnlockListBytes, the format, version 1, a site and a gate, and 1 to
// MaxListedUnlocks commands of at most MaxOpenPayload bytes each. The
// commands themselves are verified one by one.
func parseUnlockList(b []byte) (unlockList, error) {
	if len(b) > maxUnlockListBytes {
		return unlockList{}, fmt.Errorf("%w: unlock list of %d bytes, want at most %d", ErrMalformed, len(b), maxUnlockListBytes)
	}
	var l unlockList
	if err := decodeStrict(b, &l); err != nil {
		return unlockList{}, fmt.Errorf("%w: unlock list: %v", ErrMalformed, err)
	}
	switch {
	case l.Format != unlockListFormat || l.Version != 1:
		return unlockList{}, fmt.Errorf("%w: unlock list format %q version %d, want %q version 1", ErrMalformed, clipUTF8(l.Format, 64), l.Version, unlockListFormat)
	case l.Site == "" || l.Gate == "" || len(l.Site) > maxUnlockListName || len(l.Gate) > maxUnlockListName:
		return unlockList{}, fmt.Errorf("%w: unlock list: site and gate must be 1..%d bytes", ErrMalformed, maxUnlockListName)
	case len(l.Unlocks) == 0 || len(l.Unlocks) > MaxListedUnlocks:
		return unlockList{}, fmt.Errorf("%w: unlock list: %d unlocks, want 1..%d", ErrMalformed, len(l.Unlocks), MaxListedUnlocks)
	}
	for i, u := range l.Unlocks {
		if u == "" || len(u) > MaxOpenPayload {
			return unlockList{}, fmt.Errorf("%w: unlock list: unlock %d is %d bytes, want 1..%d", ErrMalformed, i, len(u), MaxOpenPayload)
		}
	}
	return l, nil
}

// handleUnlockList verifies the unlocks of gate's list and gives each to
// the handler as a Listed Unlock. This gate's own list, and a list without
// the site commands (nothing to verify them with), are ignored.
func (c *Client) handleUnlockList(gate string, m inbound) {
	s := c.site
	if m.topic == s.topics.UnlockList || !c.SiteCommands() {
		return
	}
	l, err := parseUnlockList(m.payload)
	if err == nil && l.Gate != gate {
		err = fmt.Errorf("%w: unlock list of gate %q on %s", ErrMalformed, clipUTF8(l.Gate, 64), m.topic)
	}
	if err == nil && c.opts.Site != "" && l.Site != c.opts.Site {
		err = fmt.Errorf("%w: unlock list of site %q", ErrMalformed, clipUTF8(l.Site, 64))
	}
	if err != nil {
		c.log.Warn("mqtt site unlock list refused", "topic", m.topic, "err", err)
		return
	}
	refused, first := 0, error(nil)
	for _, p := range l.Unlocks {
		u, err := c.verifier.VerifyListedUnlock(s.topics.CmdUnlock, []byte(p))
		if err != nil {
			if refused++; first == nil {
				first = err
			}
			continue
		}
		c.log.Debug("mqtt site unlock from a gate's list", "gate", gate, "key", u.Key[:12], "nonce", u.Nonce)
		s.opts.Handler.SiteCommand(u)
	}
	if refused > 0 {
		// One line a list: a forged list must not flood the log.
		c.log.Warn("mqtt site unlock list: unlocks refused", "topic", m.topic, "refused", refused, "of", len(l.Unlocks),
			"reason", refusalReason(first), "first_err", first)
	}
}
