// Package liveness is presentation-attack detection (PAD) for one ordinary
// RGB webcam: it tells a live head from a photo (flat, moved, tilted or
// bent) and a phone or tablet screen.
//
// The active check is a challenge ("turn your head a little to the left")
// answered over about a second of frames after the face was chosen. Points
// tracked on the face (goodFeaturesToTrack + pyramidal Lucas-Kanade, plus
// YuNet's five landmarks when they are given) must:
//
//   - not move as one plane: a print or a screen moves as a plane, so one
//     homography (RANSAC) explains the motion of every point on it; the nose
//     of a turning head moves more than its outline (parallax);
//   - not move as a developable surface: paper bends along one direction
//     only (zero Gaussian curvature), so the parallax left over after the
//     homography of a bent print is a function of one coordinate; a nose is
//     a bump;
//   - turn the right way in time: "left" is the person's own left, so in an
//     unmirrored image the nose moves towards the image's right; the turn
//     must start before a deadline and reach a minimum amplitude.
//
// Passive cues (no motion at all across the window: a still picture) cost
// nothing extra. See docs/liveness.md for the threat model and the measured
// error rates.
//
// A Checker is fed frames by one goroutine; it is not safe for concurrent
// use, and Close releases its OpenCV memory.
package liveness
