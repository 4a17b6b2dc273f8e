// Package jsonobj decodes exactly one JSON object from outside input (an
// MQTT payload, an HTTP body, an API answer, a state file) so that it means
// the same to us as to any other reader of the same bytes.
//
// encoding/json alone does not: it matches an object's keys to struct
// fields case-insensitively and keeps the last of repeated keys, so
// {"gate":"a","GATE":"b"} or a key given twice is "b" to us and may be "a"
// to a peer, a log reader or a JavaScript client; and json.Decoder.More,
// the usual check for trailing data, is false before a '}' or ']', so
// {"a":1}] passes. Decode refuses all of these.
package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Errors of Decode, beside those of encoding/json (wrapped).
var (
	// ErrNotObject: the input (without surrounding space) is empty or
	// does not start with '{'.
	ErrNotObject = errors.New("not a JSON object")
	// ErrTrailingData: the object is followed by something other than
	// JSON whitespace.
	ErrTrailingData = errors.New("data after the JSON object")
	// ErrRepeatedKey: one object gives a key twice; the error is a
	// *RepeatedKeyError.
	ErrRepeatedKey = errors.New("key given twice")
)

// Option changes what Decode accepts.
type Option func(*options)

type options struct{ disallowUnknown, foldAll bool }

// DisallowUnknownFields refuses a key that matches no field of the struct
// it decodes into (json.Decoder.DisallowUnknownFields).
func DisallowUnknownFields() Option { return func(o *options) { o.disallowUnknown = true } }

// FoldAllKeys compares keys case-insensitively in every object, also in
// those decoded into a map, an interface or a json.RawMessage: for input
// whose every key is a fixed name (an API's answer), where a case variant
// is never legitimate and another reader may decode the map into a struct.
func FoldAllKeys() Option { return func(o *options) { o.foldAll = true } }

// Decode decodes b, which must be exactly one JSON object with nothing but
// JSON whitespace (space, tab, CR, LF) around it, into v (a pointer, as for
// json.Unmarshal). It refuses a key repeated in any object at any depth:
// compared as encoding/json matches them to the value's Go type, that is
// case-insensitively (as bytes.EqualFold: "ſ" is "s") in an object
// decoded into a struct or into nothing (an unknown field), and exactly in
// one decoded into a map, an interface (map[string]any) or a type with its
// own UnmarshalJSON (json.RawMessage, time.Time), whose keys stay distinct.
// Whoever decodes a json.RawMessage later should check it again.
// FoldAllKeys folds them everywhere.
//
// On error v may be partly filled in; do not use it.
func Decode(b []byte, v any, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	b = trimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return ErrNotObject
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if o.disallowUnknown {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("JSON object cut short: %w", err)
		}
		return err
	}
	end := int(dec.InputOffset())
	if end != len(b) { // b ends in a non-space byte
		return ErrTrailingData
	}
	if k, ok := repeatedKey(b, reflect.TypeOf(v), o.foldAll); ok {
		return &RepeatedKeyError{Key: k}
	}
	return nil
}

// RepeatedKeyError is ErrRepeatedKey with the key, as the object gave it
// the second time (unescaped; outside text: clip it before logging it).
// Its text clips it: key "x" given twice.
type RepeatedKeyError struct{ Key string }

func (e *RepeatedKeyError) Error() string { return fmt.Sprintf("key %q given twice", clip(e.Key)) }

// Is makes errors.Is(err, ErrRepeatedKey) true.
func (e *RepeatedKeyError) Is(err error) bool { return err == ErrRepeatedKey }

// trimSpace trims JSON whitespace only: other readers refuse the rest
// (bytes.TrimSpace also takes U+00A0, U+0085, \v and \f).
func trimSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// clip bounds a key for an error message: at most 64 bytes of valid UTF-8.
func clip(s string) string {
	const max = 64
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// A dest is what an object, array or value decodes into, as far as keys
// go: a struct (keys folded, fields looked up), a map or a slice or array
// (elem), opaque (keys exact, below too) or unknown (t nil: keys folded,
// below too).
type dest struct {
	t      reflect.Type // pointers removed; nil if unknown or opaque
	opaque bool
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func destOf(t reflect.Type) dest {
	for t != nil && t.Kind() == reflect.Pointer {
		if t.Implements(unmarshalerType) {
			return dest{opaque: true}
		}
		t = t.Elem()
	}
	if t == nil {
		return dest{}
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) || t.Kind() == reflect.Interface {
		return dest{opaque: true}
	}
	return dest{t: t}
}

// fold reports whether an object decoded into d has its keys folded.
func (d dest) fold() bool {
	return !d.opaque && (d.t == nil || d.t.Kind() == reflect.Struct)
}

// child is the dest of the value under key (objects) or of an element
// (arrays).
func (d dest) child(key []byte) dest {
	if d.opaque {
		return d
	}
	if d.t == nil {
		return dest{}
	}
	switch d.t.Kind() {
	case reflect.Struct:
		return fieldsOf(d.t).lookup(key)
	case reflect.Map, reflect.Slice, reflect.Array:
		return destOf(d.t.Elem())
	}
	return dest{}
}

// fields are a struct's JSON names and the dest of each, best effort after
// encoding/json's rules (tags, "-", embedded structs promoted, shallower
// first). A name not found is an unknown field: the strict side.
type fields struct {
	exact, folded map[string]dest
}

var fieldCache sync.Map // reflect.Type → *fields

func fieldsOf(t reflect.Type) *fields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*fields)
	}
	f := &fields{exact: map[string]dest{}, folded: map[string]dest{}}
	level := []reflect.Type{t}
	seen := map[reflect.Type]bool{t: true}
	for len(level) > 0 {
		var next []reflect.Type
		for _, st := range level {
			for i := range st.NumField() {
				sf := st.Field(i)
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, _, _ := strings.Cut(tag, ",")
				ft := sf.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if sf.Anonymous && name == "" && ft.Kind() == reflect.Struct {
					if !seen[ft] {
						seen[ft] = true
						next = append(next, ft)
					}
					continue
				}
				if !sf.IsExported() {
					continue
				}
				if name == "" {
					name = sf.Name
				}
				if _, dup := f.exact[name]; !dup {
					f.exact[name] = destOf(sf.Type)
				}
				if k := string(foldKey(nil, []byte(name))); !hasKey(f.folded, k) {
					f.folded[k] = destOf(sf.Type)
				}
			}
		}
		level = next
	}
	got, _ := fieldCache.LoadOrStore(t, f)
	return got.(*fields)
}

func hasKey(m map[string]dest, k string) bool { _, ok := m[k]; return ok }

func (f *fields) lookup(key []byte) dest {
	if d, ok := f.exact[string(key)]; ok {
		return d
	}
	var buf [64]byte
	if d, ok := f.folded[string(foldKey(buf[:0], key))]; ok {
		return d
	}
	return dest{}
}

// foldKey appends key folded as encoding/json (without
// GOEXPERIMENT=jsonv2) matches struct fields: ASCII in upper case, other
// runes as the smallest of their simple case folding orbit, so that two
// keys fold alike when bytes.EqualFold says they are equal.
func foldKey(dst, key []byte) []byte {
	for i := 0; i < len(key); {
		c := key[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(key[i:])
		dst = utf8.AppendRune(dst, foldRune(r))
		i += n
	}
	return dst
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// A frame is one open object or array of the scan.
type frame struct {
	obj     bool
	d       dest
	keyNext bool   // in an object: the next string is a key
	key     []byte // in an object: the last key
	from    int    // this object's keys are spans[from:]
	big     map[string]struct{}
}

type span struct{ off, n int }

// repeatedKey scans b, one valid JSON value, for an object that gives a key
// twice (as dest t compares them, or folded everywhere with foldAll) and
// returns that key.
func repeatedKey(b []byte, t reflect.Type, foldAll bool) (string, bool) {
	// Room on the stack for a typical event: a few levels, 64 keys open
	// at once, 1 KB of them.
	var (
		stackArr [8]frame
		spanArr  [64]span
		arenaArr [1024]byte
	)
	stack, spans := stackArr[:0], spanArr[:0]
	arena := arenaArr[:0] // keys as compared, one after the other
	root := destOf(t)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '{', '[':
			d := root
			if n := len(stack); n > 0 {
				d = stack[n-1].d.child(stack[n-1].key)
			}
			stack = append(stack, frame{obj: c == '{', d: d, keyNext: c == '{', from: len(spans)})
		case '}', ']':
			top := stack[len(stack)-1]
			if top.obj && top.from < len(spans) {
				arena = arena[:spans[top.from].off]
				spans = spans[:top.from]
			}
			stack = stack[:len(stack)-1]
		case ',':
			if top := &stack[len(stack)-1]; top.obj {
				top.keyNext = true
			}
		case '"':
			j := i + 1
			plain := true
			for ; b[j] != '"'; j++ {
				if b[j] == '\\' {
					j++
					plain = false
				} else if b[j] >= utf8.RuneSelf {
					plain = false
				}
			}
			quoted := b[i : j+1]
			i = j
			top := &stack[len(stack)-1]
			if !top.obj || !top.keyNext {
				continue
			}
			top.keyNext = false
			key := quoted[1 : len(quoted)-1]
			if !plain {
				var s string
				if json.Unmarshal(quoted, &s) != nil {
					continue // cannot happen: b is valid JSON
				}
				key = []byte(s)
			}
			top.key = key
			off := len(arena)
			if foldAll || top.d.fold() {
				arena = foldKey(arena, key)
			} else {
				arena = append(arena, key...)
			}
			k := arena[off:]
			if top.seen(k, spans, arena) {
				return string(key), true
			}
			spans = append(spans, span{off, len(k)})
			if top.big != nil {
				top.big[string(k)] = struct{}{}
			}
		}
	}
	return "", false
}

// seen reports whether this object has had key k; past a few keys it
// switches from a linear search to a map.
func (f *frame) seen(k []byte, spans []span, arena []byte) bool {
	const linear = 32
	if f.big != nil {
		_, ok := f.big[string(k)]
		return ok
	}
	mine := spans[f.from:]
	for _, s := range mine {
		if bytes.Equal(arena[s.off:s.off+s.n], k) {
			return true
		}
	}
	if len(mine) >= linear {
		f.big = make(map[string]struct{}, 2*len(mine))
		for _, s := range mine {
			f.big[string(arena[s.off:s.off+s.n])] = struct{}{}
		}
	}
	return false
}
