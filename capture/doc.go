// Package capture turns camera frames into the one face the gate sends to
// the FaceAuth API: frame sources (V4L2, files, RTSP, GStreamer) read by a
// goroutine that always keeps the freshest frame, face detection (Haar by
// default, YuNet optionally), frontal confirmation and quality thresholds with
// reason codes the kiosk can show, a selection window, and the exact
// 960x720 crop encoded as JPEG. It also scans QR badges and renders the
// kiosk's preview from the same frames.
//
// Everything that touches OpenCV stays inside this package: callers see
// Selection (plain bytes and rectangles), Reason codes, Health and strings.
//
// Concurrency: a Camera is safe for concurrent use. A Selector runs one
// SelectFace at a time. QRScanner and Preview each own their OpenCV state
// and may run beside a Selector on the same Camera.
package capture
