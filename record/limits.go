package record

// Size limits of the site's messages, shared by the code that writes them,
// the decoders that refuse larger ones and the MQTT client that drops
// larger ones as they arrive (outside input: one retained message from
// anyone with the broker's password reaches every gate).
const (
	// MaxSnapshotBytes bounds a gate's presence snapshot: about 40,000
	// persons (10,000 encode to about 2 MB). Decoding allocates about 30
	// times the payload for a while, so a larger bound let one hostile
	// snapshot of 64 MB take 2 GB of a Raspberry Pi's memory.
	MaxSnapshotBytes = 8 << 20
	// MaxFailureListBytes bounds a gate's liveness failure list.
	MaxFailureListBytes = 2 << 20
)
