package main

import (
	"encoding/binary"
	"os"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hangDir makes every open of a file directly in dir (and of dir itself)
// wait, as on a hung SD card, from hang until release (fanotify permission
// events; the test is skipped where they are not allowed). Cleanup lets
// everything through.
func hangDir(t *testing.T, dir string) (hang, release func()) {
	t.Helper()
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK, unix.O_RDONLY)
	if err != nil {
		t.Skipf("fanotify: %v", err)
	}
	if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD, unix.FAN_OPEN_PERM|unix.FAN_EVENT_ON_CHILD, unix.AT_FDCWD, dir); err != nil {
		unix.Close(fd)
		t.Skipf("fanotify mark: %v", err)
	}
	f := os.NewFile(uintptr(fd), "fanotify")
	var mu sync.Mutex
	hung := false
	var held []int32
	respond := func(efd int32) {
		var b [8]byte
		binary.LittleEndian.PutUint32(b[0:], uint32(efd))
		binary.LittleEndian.PutUint32(b[4:], unix.FAN_ALLOW)
		_, _ = f.Write(b[:])
		unix.Close(int(efd))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+int(unsafe.Sizeof(unix.FanotifyEventMetadata{})) <= n; {
				m := (*unix.FanotifyEventMetadata)(unsafe.Pointer(&buf[off]))
				if m.Event_len == 0 {
					break
				}
				off += int(m.Event_len)
				if m.Fd < 0 {
					continue
				}
				mu.Lock()
				if hung {
					held = append(held, m.Fd)
					mu.Unlock()
					continue
				}
				mu.Unlock()
				respond(m.Fd)
			}
		}
	}()
	release = func() {
		mu.Lock()
		defer mu.Unlock()
		hung = false
		for _, efd := range held {
			respond(efd)
		}
		held = nil
	}
	hang = func() {
		mu.Lock()
		hung = true
		mu.Unlock()
	}
	t.Cleanup(func() {
		release()
		f.Close()
		<-done
	})
	return hang, release
}
