// Package mqtt publishes facegate's decisions and state to an MQTT broker
// through a durable on-disk outbox, and receives the identify and open
// commands. It knows topics and payloads, not cameras or the FaceAuth API.
package mqtt
