// Package kiosk is one gate's session: the state machine that ties the
// face selector, the FaceAuth client, the relay and the publisher together,
// the identity sources (badge QR, MQTT, HTTP, roster, fixed identity), the
// local policy on top of the API's verdict, the worker coaching messages,
// the audit log, the kiosk web page with its metrics, and the self-test.
//
// It knows nothing of OpenCV, GPIO or the MQTT wire: it consumes the small
// interfaces of deps.go (FaceSelector, Authenticator, Relay, Publisher,
// Pinger, CameraMonitor, BrokerMonitor, PreviewSource), which the daemon
// adapts from the capture, faceauth, gate and mqtt packages.
//
// # Session
//
//	idle → identified → capturing → authenticating → granted | denied | error → cooldown → idle
//
// One session at a time: an identity that arrives during a session or its
// cooldown is refused with ErrBusy, not queued. Every session ends with
// exactly one record.Event, written to the audit log, handed to the
// Publisher and sent to the page. Only a granted session pulses the relay,
// once; every doubt (timeout, API error, stale approval, camera failure,
// shutdown) ends denied or error with the gate shut and a reason shown.
//
// # Wiring (cmd/facegate)
//
//	k, err := kiosk.New(cfg, kiosk.Deps{Selector: …, Authenticator: client, Relay: relay,
//		Publisher: adapter, Pinger: client, Camera: …, Broker: mqttClient, Preview: …,
//		Logger: log, OnHealth: watchdogPing})
//	go http.Serve(listener on cfg.Kiosk.Listen, k.Handler())
//	QR scanner callback:   k.IdentifyQR(payload)            (ignore ErrBusy)
//	mqtt.Identify command: k.Identify(kiosk.Identity{SubmissionID: c.SubmissionID, UserID: c.UserID, Source: kiosk.SourceMQTT})
//	mqtt.Open command:     k.RemoteOpen(kiosk.RemoteOpen{Source: kiosk.SourceMQTT, By: c.By, Reason: c.Reason})
//	gate inputs:           k.SetDoor(open), k.SetRelay(energised)  (the wiring also publishes them to MQTT)
//	SIGHUP:                k.Reload(newCfg)
//	k.Run(ctx)             returns after ctx ends and the session in flight has its event;
//	                       then halt the relay, close MQTT, close the camera.
package kiosk
