//go:build linux

package kiosk

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/facegate/facegate/internal/smalldisk"
)

// On a real full file system the audit log refuses lines with ENOSPC and
// leaves no part of them, the disk check sees it, and the log works again
// once space is freed; a torn line and a full disk do not stop the open.
func TestAuditOnARealFullDisk(t *testing.T) {
	dir := smalldisk.Mount(t, "64k")
	audit := filepath.Join(dir, "audit")
	os.MkdirAll(audit, 0o750)
	os.WriteFile(filepath.Join(audit, auditName), []byte(`{"event_id":"e1","seq":1}`+"\n"+`{"seq":0,"torn`), 0o640)
	// Fill the disk.
	filler, _ := os.Create(filepath.Join(dir, "filler"))
	for {
		if _, err := filler.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	filler.Close()

	a, err := openAudit(audit, 1<<20, 3)
	if err != nil {
		t.Fatalf("open on a full disk with a torn line: %v", err)
	}
	defer a.close()
	if free, err := a.ops.freeSpace(dir); err != nil || free >= 4096 {
		t.Errorf("freeSpace on a full disk = %d, %v", free, err)
	}
	written := []uint64{1}
	var werr error
	for seq := 2; seq < 200 && werr == nil; seq++ { // the last page may have room for a few
		if werr = a.write(auditEvent(seq)); werr == nil {
			written = append(written, uint64(seq))
		}
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v, want ENOSPC", werr)
	}
	wantSeqs(t, auditSeqs(t, audit, 3), written...)

	os.Remove(filepath.Join(dir, "filler"))
	if err := a.write(auditEvent(500)); err != nil {
		t.Fatalf("write once space is back: %v", err)
	}
	if st := a.state(); st.WriteErr != nil || st.Torn {
		t.Errorf("state %+v after space came back", st)
	}
	wantSeqs(t, auditSeqs(t, audit, 3), append(written, 500)...)
}
