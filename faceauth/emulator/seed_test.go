package emulator

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validSeed = `
projects:
  - id: p1
    api_key: key-1
    policy:
      face_similarity: {enabled: true, threshold: 70}
submissions:
  - id: s1
    status: approved
    reference_image: face.jpg
  - id: s2
    status: pending
faults:
  latency: 10ms
  errors:
    - {code: no_face, submission: s1, times: 1}
    - {status: 502, body: "<html>bad</html>", rate: 0.5}
    - {drop: true, method: GET}
`

func TestParseSeedValid(t *testing.T) {
	s, err := ParseSeed("seed.yaml", []byte(validSeed))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Projects) != 1 || len(s.Submissions) != 2 || len(s.Faults.Rules) != 3 || s.Faults.Latency.Milliseconds() != 10 ||
		!s.Projects[0].Policy.FaceSimilarity.Enabled || s.Projects[0].Policy.FaceSimilarity.Threshold != 70 {
		t.Fatalf("%+v", s)
	}
}

func TestParseSeedInvalid(t *testing.T) {
	base := "projects:\n  - {id: p1, api_key: k1}\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"no projects", "submissions: []\n", "seed.yaml: invalid emulator seed: projects: at least one project is needed"},
		{"unknown key", base + "submissions:\n  - {id: s, status: pending, colour: red}\n", "seed.yaml: invalid emulator seed: line 4: field colour is not a known key of emulator.Submission"},
		{"bad yaml", "projects: [\n", "seed.yaml: invalid emulator seed: line 1: did not find expected node content"},
		{"empty id", "projects:\n  - {api_key: k}\n", "seed.yaml: invalid emulator seed: projects[0].id: must not be empty"},
		{"duplicate project", base + "  - {id: p1, api_key: k2}\n", `seed.yaml: invalid emulator seed: projects[1].id: "p1" is used twice`},
		{"duplicate key", base + "  - {id: p2, api_key: k1}\n", "seed.yaml: invalid emulator seed: projects[1].api_key: is used by another project"},
		{"empty key", "projects:\n  - {id: p}\n", "seed.yaml: invalid emulator seed: projects[0].api_key: must not be empty or have surrounding spaces"},
		{"threshold", "projects:\n  - {id: p, api_key: k, policy: {head_cover: {enabled: true, threshold: 101}}}\n", "seed.yaml: invalid emulator seed: projects[0].policy.head_cover.threshold: 101 is not within 0..100"},
		{"error style", "projects:\n  - {id: p, api_key: k, error_style: kebab}\n", `seed.yaml: invalid emulator seed: projects[0].error_style: "kebab" is not snake or camel`},
		{"history shape", "projects:\n  - {id: p, api_key: k, history_shape: round}\n", `seed.yaml: invalid emulator seed: projects[0].history_shape: "round" is not wrapped or flat`},
		{"status", base + "submissions:\n  - {id: s, status: pendng}\n", `seed.yaml: invalid emulator seed: submissions[0].status: "pendng" is not approved, pending or rejected`},
		{"approved without image", base + "submissions:\n  - {id: s, status: approved}\n", "seed.yaml: invalid emulator seed: submissions[0].reference_image: an approved submission needs a reference face image"},
		{"duplicate submission", base + "submissions:\n  - {id: s, status: pending}\n  - {id: s, status: pending}\n", `seed.yaml: invalid emulator seed: submissions[1].id: "s" is used twice`},
		{"unknown project", base + "submissions:\n  - {id: s, status: pending, project: nope}\n", `seed.yaml: invalid emulator seed: submissions[0].project: "nope" is not a project of this seed`},
		{"ambiguous project", base + "  - {id: p2, api_key: k2}\nsubmissions:\n  - {id: s, status: pending}\n", "seed.yaml: invalid emulator seed: submissions[0].project: must name a project when the seed has several"},
		{"fixed score", base + "submissions:\n  - {id: s, status: pending, scores: {occluded: -1}}\n", "seed.yaml: invalid emulator seed: submissions[0].scores.occluded: -1 is not within 0..100"},
		{"latency", base + "faults: {latency: 2m}\n", "seed.yaml: invalid emulator seed: faults.latency: 2m0s is not within 0..1m"},
		{"undocumented code", base + "faults: {errors: [{code: teapot}]}\n", `seed.yaml: invalid emulator seed: faults.errors[0].code: "teapot" is not a documented error code`},
		{"two kinds", base + "faults: {errors: [{code: no_face, status: 502}]}\n", "seed.yaml: invalid emulator seed: faults.errors[0]: needs exactly one of code, status or drop"},
		{"no kind", base + "faults: {errors: [{rate: 0.5}]}\n", "seed.yaml: invalid emulator seed: faults.errors[0]: needs exactly one of code, status or drop"},
		{"status 200", base + "faults: {errors: [{status: 200}]}\n", "seed.yaml: invalid emulator seed: faults.errors[0].status: 200 is not an HTTP error status"},
		{"body without status", base + "faults: {errors: [{code: no_face, body: x}]}\n", "seed.yaml: invalid emulator seed: faults.errors[0].body: only goes with status"},
		{"method", base + "faults: {errors: [{drop: true, method: PUT}]}\n", `seed.yaml: invalid emulator seed: faults.errors[0].method: "PUT" is not POST or GET`},
		{"GET with submission", base + "faults: {errors: [{drop: true, method: GET, submission: s}]}\n", "seed.yaml: invalid emulator seed: faults.errors[0].submission: only applies to POST"},
		{"rate", base + "faults: {errors: [{drop: true, rate: 1.5}]}\n", "seed.yaml: invalid emulator seed: faults.errors[0].rate: 1.5 is not within 0..1"},
		{"times", base + "faults: {errors: [{drop: true, times: -1}]}\n", "seed.yaml: invalid emulator seed: faults.errors[0].times: must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSeed("seed.yaml", []byte(tc.yaml))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
			if !errors.Is(err, ErrSeed) {
				t.Fatal("not ErrSeed")
			}
		})
	}
}

func TestLoadSeedReferences(t *testing.T) {
	dir := t.TempDir()
	face, err := os.ReadFile(gocvImage(t, "face.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "face.jpg"), face, 0o600); err != nil {
		t.Fatal(err)
	}
	seedPath := filepath.Join(dir, "seed.yaml")
	if err := os.WriteFile(seedPath, []byte(validSeed), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSeed(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := s.referenceBytes(s.Submissions[0]); err != nil || len(b) != len(face) {
		t.Fatalf("relative reference not resolved against the seed's folder: %v", err)
	}
	t.Setenv("FACES_TEST_DIR", dir)
	if _, err := s.referenceBytes(Submission{ID: "x", ReferenceImage: "${FACES_TEST_DIR}/face.jpg"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.referenceBytes(Submission{ID: "x", ReferenceImage: "${FACEGATE_UNSET_VAR_FOR_TEST}/face.jpg"})
	if err == nil || !strings.Contains(err.Error(), `submission "x": reference_image uses $FACEGATE_UNSET_VAR_FOR_TEST, which is not set`) {
		t.Fatal(err)
	}
	if _, err := LoadSeed(filepath.Join(dir, "missing.yaml")); !errors.Is(err, ErrSeed) || !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	// A reference without a face is refused when the server is built.
	s.Submissions[0].ReferenceJPEG = blankJPEG(t, 320, 240)
	if _, err := New(s); err == nil || !strings.Contains(err.Error(), `submission "s1": reference image: no face detected`) {
		t.Fatalf("New with a faceless reference: %v", err)
	}
}

func TestExampleSeedParses(t *testing.T) {
	s, err := LoadSeed(filepath.Join("..", "..", "configs", "emulator-seed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Projects) < 2 || len(s.Submissions) < 6 {
		t.Fatalf("example seed lost content: %+v", s)
	}
	// Its images resolve through GOCV_DIR, as docs/emulator.md says.
	t.Setenv("GOCV_DIR", filepath.Dir(filepath.Dir(gocvImage(t, "face.jpg"))))
	srv, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if k := srv.Keys(); len(k) != 2 || k[0] != [2]string{"demo-project", "emulator-demo-key"} {
		t.Fatalf("keys %v", k)
	}
}

func FuzzParseSeed(f *testing.F) {
	f.Add([]byte(validSeed))
	f.Add([]byte("projects:\n  - {id: p1, api_key: k1}\nfaults: {errors: [{code: no_face}]}\n"))
	f.Add([]byte("projects: [\n"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSeed("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrSeed) {
				t.Fatalf("error not wrapping ErrSeed: %v", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed seed does not validate: %v", err)
		}
	})
}
