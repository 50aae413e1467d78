package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// strictStdlib is decodeJSON's reference: encoding/json with unknown fields
// refused and nothing after the object.
func strictStdlib(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data")
	}
	return nil
}

// fastPathAgrees checks that the fast decoder accepts body into T exactly
// when encoding/json does, with the same result.
func fastPathAgrees[T any](t *testing.T, body []byte) {
	t.Helper()
	var fast, ref T
	fastErr := jsonv2.Unmarshal(body, &fast, strictV1)
	refErr := strictStdlib(body, &ref)
	if fastErr == nil && refErr != nil {
		t.Fatalf("%T %q: fast path accepts what encoding/json refuses (%v)", ref, body, refErr)
	}
	if fastErr == nil && !reflect.DeepEqual(fast, ref) {
		t.Fatalf("%T %q: fast path gives %+v, encoding/json %+v", ref, body, fast, ref)
	}
}

var decodeSeeds = []string{
	`{}`, `{"enterprise_id":"a","certificate_no":"b"}`,
	`{"ENTERPRISE_ID":"a","Certificate_No":"b"}`, // encoding/json matches names case-insensitively
	`{"enterprise_id":"a","enterprise_id":"b"}`,  // duplicates: the last wins
	`{"enterprise_id":"a","enterprise_id":null}`, // null leaves the value
	`{"enterprise_id":null}`, `{"enterprise_id":12}`, `{"enterprise_id":true}`, `{"enterprise_id":{}}`,
	`{"enterprise_id":"\u00e9\ud83d\ude00\n"}`, `{"enterprise_id":"\ud800"}`, `{"enterprise_id":"a","x":1}`,
	`{"reason":"r"}`, `{"Reason":"r","reason":"s"}`, `{"stale_after_days":"x"}`, `{"stale_after_days":1.5}`,
	`{"stale_after_days":1e2}`, `{"stale_after_days":99999999999999999999}`, `{"stale_after_days":-0}`,
	`{"stale_after_days":null}`, `{"unit_reward":"5000.00","stale_after_days":30}`,
	`{} {}`, `{}x`, `{"a"}`, `[1]`, `null`, `"s"`, `{"enterprise_id":"a",}`, `{"enterprise_id" "x"}`,
	`{"enterprıse_id":"a"}`, `{"enterpriſe_id":"a"}`, `{"K":"a"}`, // non-ASCII folding
}

func FuzzDecodeFastPath(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fastPathAgrees[voucher.ClaimArgs](t, body)
		fastPathAgrees[voucher.SetPolicyArgs](t, body)
		fastPathAgrees[reasonBody](t, body)
		fastPathAgrees[emptyBody](t, body)
		fastPathAgrees[reimburseBody](t, body)
	})
}

func TestContentTypeFastPath(t *testing.T) {
	for _, ct := range []string{"application/json", "Application/JSON", "application/jſon", "application/json ", "application/jsonx"} {
		fast := asciiEqualFold(ct, "application/json")
		slow := requireJSONContentType(ct) == nil
		if fast && !slow {
			t.Errorf("%q: fast path accepts what mime.ParseMediaType refuses", ct)
		}
	}
}
