package faceauth

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels. Every error returned by Authenticate, History and Ping is an
// *APIError; these are what it wraps, so callers may use errors.Is as well as
// errors.As. New returns errors wrapping ErrInvalidOptions.
var (
	// ErrInvalidOptions: New was given options it cannot work with.
	ErrInvalidOptions = errors.New("invalid faceauth client options")
	// ErrInvalidRequest: the caller's Request or HistoryQuery is incomplete
	// or malformed; nothing was sent.
	ErrInvalidRequest = errors.New("invalid faceauth request")
	// ErrNetwork: the server could not be reached or the connection broke
	// (connection refused, DNS, reset). Class is ClassTransient.
	ErrNetwork = errors.New("faceauth: network error")
	// ErrTimeout: the request's own timeout (Options.Timeout) or the caller's
	// deadline expired. Class is ClassTransient.
	ErrTimeout = errors.New("faceauth: request timed out")
	// ErrCanceled: the caller's context was canceled.
	ErrCanceled = errors.New("faceauth: request canceled")
	// ErrBadResponse: the server answered something that is not the
	// documented contract (HTML from a gateway, empty, truncated or oversized
	// body, an HTTP status without a JSON error).
	ErrBadResponse = errors.New("faceauth: unexpected response")
	// ErrRejectedByAPI: the API answered with a documented error body
	// (400 error_code/errorCode).
	ErrRejectedByAPI = errors.New("faceauth: API returned an error")
)

// Class tells the caller (the kiosk) what to do about an *APIError.
type Class string

// The classes. Every *APIError has exactly one.
const (
	// ClassIdentity: the worker's KYC submission is unknown or not approved;
	// the worker must sort out their enrolment. Retrying will not help.
	ClassIdentity Class = "identity"
	// ClassConfig: the API key or project is wrong (or the base URL points at
	// the wrong thing); an operator must fix the configuration.
	ClassConfig Class = "config"
	// ClassRecapture: the image was not usable (no face, not an image);
	// take another picture.
	ClassRecapture Class = "recapture"
	// ClassTransient: network, timeout, overloaded or failing server; the
	// same request may succeed later.
	ClassTransient Class = "transient"
	// ClassClient: facegate sent something the API could not parse: a bug.
	ClassClient Class = "client"
)

// Error codes. The first group is the API's own (as documented, compared
// case-insensitively); the second is made by this client for failures that
// have no API body. APIError.Code holds the API's spelling when it sent one.
const (
	CodeInvalidDataFormat       = "invalid_data_format"
	CodeRequiredFieldMissing    = "required_field_missing"
	CodeInvalidSubmissionID     = "Invalid_submissionId"
	CodeInvalidProjectID        = "Invalid_projectId"
	CodeInvalidSubmissionStatus = "invalid_submission_status"
	CodeImageConverting         = "image_converting_error"
	CodeImageProcessing         = "image_processing_error"
	CodeDetectionServer         = "detection_server_error"
	CodeNoFace                  = "no_face"
	CodeDataProcessing          = "data_processing_error"
	// CodeNotFound is what GET /faceauth answers when the key matches no project.
	CodeNotFound = "NOT_FOUND"

	// CodeNetwork: connection refused, DNS failure, connection reset.
	CodeNetwork = "network_error"
	// CodeTimeout: Options.Timeout or the caller's deadline expired.
	CodeTimeout = "timeout"
	// CodeCanceled: the caller canceled the context.
	CodeCanceled = "canceled"
	// CodeHTTPStatus: an HTTP error status without a documented JSON body
	// (gateway 401/403/404/429/5xx pages, empty bodies).
	CodeHTTPStatus = "http_status"
	// CodeInvalidResponse: a body that does not parse as the contract says.
	CodeInvalidResponse = "invalid_response"
	// CodeInvalidRequest: the caller's request was rejected before sending.
	CodeInvalidRequest = "invalid_request"
)

// APIError is the one error type of this package. It never contains the API
// key. Message is the API's message, or a short description made here
// (gateway bodies are cut to 200 bytes).
type APIError struct {
	// HTTPStatus is 0 when no response was received.
	HTTPStatus int
	// Code is the API's error code (error_code or errorCode) or one of the
	// client codes (CodeNetwork, CodeTimeout, …).
	Code    string
	Message string
	// TraceID is the API's traceId, when it sent one.
	TraceID string
	Class   Class
	// Err is the underlying cause (a sentinel of this package, and for
	// transport failures the net/http error).
	Err error
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("faceauth: ")
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, "HTTP %d: ", e.HTTPStatus)
	}
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.TraceID != "" {
		fmt.Fprintf(&b, " (trace %s)", e.TraceID)
	}
	return b.String()
}

// Unwrap gives errors.Is/As access to the cause.
func (e *APIError) Unwrap() error { return e.Err }

// Transient reports whether the same request may succeed later.
func (e *APIError) Transient() bool { return e.Class == ClassTransient }

// Is matches an *APIError target by Code (case-insensitive) when the target
// sets one, so errors.Is(err, &APIError{Code: CodeNoFace}) works.
func (e *APIError) Is(target error) bool {
	t, ok := target.(*APIError)
	if !ok || t.Code == "" {
		return false
	}
	return strings.EqualFold(e.Code, t.Code)
}

// ClassOf returns the class of err when it is (or wraps) an *APIError,
// ClassConfig for ErrInvalidOptions, and ClassTransient otherwise (an unknown
// failure is worth another try, and the gate stays shut meanwhile).
func ClassOf(err error) Class {
	var ae *APIError
	switch {
	case errors.As(err, &ae):
		return ae.Class
	case errors.Is(err, ErrInvalidOptions):
		return ClassConfig
	}
	return ClassTransient
}

// classForCode maps the API's documented error codes to a class; ok is false
// for codes this client does not know.
func classForCode(code string) (Class, bool) {
	switch strings.ToLower(code) {
	case "invalid_data_format", "required_field_missing":
		return ClassClient, true
	case "invalid_submissionid", "invalid_submission_status":
		return ClassIdentity, true
	case "invalid_projectid", "not_found":
		return ClassConfig, true
	case "image_converting_error", "image_processing_error", "no_face":
		return ClassRecapture, true
	case "detection_server_error", "data_processing_error":
		return ClassTransient, true
	}
	return "", false
}

// retryableCode reports the two codes by which the server says the request
// failed on its side and may be sent again.
func retryableCode(code string) bool {
	switch strings.ToLower(code) {
	case "detection_server_error", "data_processing_error":
		return true
	}
	return false
}

// classForStatus classifies an HTTP status that came without a documented
// error body.
func classForStatus(status int) Class {
	switch {
	case status == 401 || status == 403 || status == 404:
		return ClassConfig // wrong key, or a base URL that is not the API
	case status == 408 || status == 425 || status == 429 || status >= 500:
		return ClassTransient
	default:
		return ClassClient
	}
}
