package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// LogPahoTo sends paho's own warnings and errors to l (paho's loggers are
// process-wide: call it once, from main). Its debug output stays off.
func LogPahoTo(l *slog.Logger) {
	paho.CRITICAL = pahoLogger{l, slog.LevelError}
	paho.ERROR = pahoLogger{l, slog.LevelError}
	paho.WARN = pahoLogger{l, slog.LevelWarn}
}

type pahoLogger struct {
	l     *slog.Logger
	level slog.Level
}

func (p pahoLogger) Println(v ...any) {
	p.l.Log(context.Background(), p.level, "paho", "detail", strings.TrimSpace(fmt.Sprintln(v...)))
}

func (p pahoLogger) Printf(format string, v ...any) {
	p.l.Log(context.Background(), p.level, "paho", "detail", strings.TrimSpace(fmt.Sprintf(format, v...)))
}
