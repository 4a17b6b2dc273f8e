package gate

import "testing"

// An event emitted while Close is under way goes into Events when there
// is room: shutdown stops the inputs after halting the relay, and an exit
// press handled just before (its pulse may have started) must keep its
// event, or its audit record is lost. A select between the send and quit
// chose at random.
func TestEmitKeepsAnEventWithRoomAfterQuit(t *testing.T) {
	for i := range 200 {
		m := &Monitor{events: make(chan Event, 1), quit: make(chan struct{})}
		close(m.quit)
		m.emit(Event{Kind: ExitPressed})
		if len(m.events) != 1 {
			t.Fatalf("try %d: the event was dropped although Events had room", i)
		}
	}
}
