package faceauth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/facegate/facegate/faceauth"
)

func ExampleClient_Authenticate() {
	// A stand-in for the API (use emulator.New for a full one).
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("submissionId") == "pending-worker" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error_code":"invalid_submission_status","message":"The submission must be approved to process face authentication"}`)
			return
		}
		io.WriteString(w, `{"authentication_id":"a-1","auth_status":"rejected","score":{"face_similarity_score":97.5,"head_cover_socre":12},
			"fail_code":["HEAD_COVER_FAIL"],"rejected_comment":["Protection equipment is not found on Head"]}`)
	}))
	defer api.Close()

	c, err := faceauth.New(faceauth.Options{BaseURL: api.URL + "/v3", APIKey: "example-key"})
	if err != nil {
		panic(err)
	}
	jpeg := []byte{0xff, 0xd8, 0xff} // a real caller sends the 960x720 crop
	res, err := c.Authenticate(context.Background(), faceauth.Request{SubmissionID: "worker-1", Image: jpeg})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Status, res.Approved(), *res.Scores.FaceSimilarity, *res.Scores.HeadCover, res.FailCodes[0] == faceauth.FailHeadCover)

	_, err = c.Authenticate(context.Background(), faceauth.Request{SubmissionID: "pending-worker", Image: jpeg})
	var ae *faceauth.APIError
	if errors.As(err, &ae) {
		fmt.Println(ae.HTTPStatus, ae.Code, ae.Class)
	}
	// Output:
	// rejected false 97.5 12 true
	// 400 invalid_submission_status identity
}
