package kiosk

// Indicator shows a session's outcome beside the gate: lamps and a buzzer
// (*gate.Indicator satisfies it). Each method starts its signal and returns
// at once (a few GPIO writes); a new signal replaces the one playing. The
// kiosk calls them from its own goroutines, once per entry into the state.
type Indicator interface {
	// ShowGranted: the gate opens (StateGranted).
	ShowGranted() error
	// ShowDenied: the worker was refused (StateDenied).
	ShowDenied() error
	// ShowError: the decision could not be made (StateError).
	ShowError() error
}

// indicate plays st's signal on the indicator, when st is an end state
// and there is an indicator.
func (k *Kiosk) indicate(st State) {
	in := k.deps.Indicator
	if in == nil {
		return
	}
	var show func() error
	switch st {
	case StateGranted:
		show = in.ShowGranted
	case StateDenied:
		show = in.ShowDenied
	case StateError:
		show = in.ShowError
	default:
		return
	}
	if err := show(); err != nil {
		k.log.Warn("indicator failed", "state", st, "err", err)
	}
}
