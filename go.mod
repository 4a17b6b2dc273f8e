module github.com/facegate/facegate

go 1.23

require (
	github.com/eclipse/paho.mqtt.golang v1.5.0 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/kardianos/service v1.2.2 // indirect
	github.com/mochi-mqtt/server/v2 v2.7.9 // indirect
	github.com/prometheus/client_golang v1.20.5 // indirect
	github.com/rs/xid v1.4.0 // indirect
	github.com/stretchr/testify v1.10.0 // indirect
	github.com/warthog618/go-gpiocdev v0.9.1 // indirect
	gocv.io/x/gocv v0.32.0 // indirect
	golang.org/x/net v0.33.0 // indirect
	golang.org/x/sync v0.7.0 // indirect
	golang.org/x/sys v0.28.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
	rsc.io/qr v0.2.0 // indirect
)
