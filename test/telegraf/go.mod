module github.com/facegate/facegate/test/telegraf

go 1.25.5

require (
	github.com/influxdata/telegraf v1.37.2
	github.com/influxdata/toml v0.0.0-20251106153700-c381e153d076
)

require (
	github.com/dimchansky/utfbom v1.1.1 // indirect
	github.com/golang-jwt/jwt/v5 v5.3.0 // indirect
	github.com/klauspost/compress v1.18.3 // indirect
	github.com/klauspost/pgzip v1.2.6 // indirect
	github.com/naoina/go-stringutil v0.1.0 // indirect
	github.com/tidwall/gjson v1.18.0 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.2.1 // indirect
)
