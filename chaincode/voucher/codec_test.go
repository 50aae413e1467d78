package voucher

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// The writers and the flat reader against the libraries they stand in for
// (codec.go, ADR 0011).

// flatTypes are the types with a writer (values) or a flat reader
// (pointers), one zero value each.
var (
	writtenTypes = []any{Agency{}, CapUsage{}, Certification{}, ServiceRecord{}, Voucher{}, Policy{}, Event{}}
	stateTypes   = []any{&Agency{}, &CapUsage{}, &Certification{}, &ServiceRecord{}, &Voucher{}, &Policy{}}
	argTypes     = []any{&RegisterAgencyArgs{}, &RecordCertificationArgs{}, &RecordServiceArgs{}, &ClaimArgs{}, &VoucherIDArgs{}, &ReimburseArgs{}, &VoucherReasonArgs{}}
)

// awkward strings: everything encoding/json escapes or replaces, and
// plain text of the domain.
var awkward = []string{
	"", "a", `"`, `\`, "<b>&amp;</b>", "\u2028\u2029", "\x00\x01\x1f\x7f", "\b\f\n\r\t",
	"\xff", "a\xc3", "\xed\xa0\x80", "新疆红山科技服务有限公司", "91650100MA7XXXXX0X", "2024-11-20",
	"GR202465000001", "5000.00", "😀", "\ufffd", "x\u00e9y", "V-2024-0123456789abcdef",
}

func randomString(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return awkward[r.IntN(len(awkward))]
	}
	b := make([]byte, r.IntN(24))
	for i := range b {
		b[i] = byte(r.IntN(256))
		if r.IntN(2) == 0 {
			b[i] = 'a' + byte(r.IntN(26))
		}
	}
	return string(b)
}

// fill sets every field of the struct v points to at random: strings,
// ints, and pointers to such structs (nil half the time).
func fill(t *testing.T, r *rand.Rand, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(randomString(r))
		case reflect.Int:
			f.SetInt(r.Int64N(1<<40) - 1<<39)
			if r.IntN(2) == 0 {
				f.SetInt(int64(r.IntN(21) - 10))
			}
		case reflect.Pointer:
			if r.IntN(2) == 0 {
				f.Set(reflect.New(f.Type().Elem()))
				fill(t, r, f.Elem())
			}
		default:
			t.Fatalf("%s.%s: no generator for %s", v.Type(), v.Type().Field(i).Name, f.Kind())
		}
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range awkward {
		checkString(t, s)
	}
	for c := range 256 {
		checkString(t, string([]byte{byte(c)}))
		checkString(t, "x"+string([]byte{byte(c)})+"y")
	}
	for _, r := range []rune{0x7f, 0x80, 0x7ff, 0x800, 0x2027, 0x2028, 0x2029, 0x202a, 0xfffd, 0xffff, 0x10000, 0x10ffff} {
		checkString(t, "a"+string(r)+"b")
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range awkward {
		f.Add(s)
	}
	f.Fuzz(checkString)
}

func checkString(t *testing.T, s string) {
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
		t.Fatalf("%q: got %s, encoding/json %s", s, got, want)
	}
}

// Every writer writes what json.Marshal writes, for random values of every
// field (a field added to a type without its writer fails here).
func TestWritersMatchEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, zero := range writtenTypes {
		typ := reflect.TypeOf(zero)
		for range 2000 {
			v := reflect.New(typ).Elem()
			fill(t, r, v)
			want, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatal(err)
			}
			got, err := marshalJSON(v.Interface())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s:\n got %s\nwant %s", typ, got, want)
			}
		}
	}
	// A struct embedding one of the types is not taken for it.
	view := AgencyView{Agency: Agency{ID: "a"}, Caps: []CapUsage{{AgencyID: "a"}}}
	got, _ := marshalJSON(view)
	want, _ := json.Marshal(view)
	if !bytes.Equal(got, want) {
		t.Fatalf("AgencyView: got %s, want %s", got, want)
	}
}

// The flat reader reads what the writers write (so the replay takes it),
// and whatever it accepts, the library decodes alike.
func TestFlatReaderTakesTheWritersOutput(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	taken := 0
	for _, zero := range stateTypes {
		typ := reflect.TypeOf(zero).Elem()
		for range 2000 {
			v := reflect.New(typ)
			fill(t, r, v.Elem())
			b, err := marshalJSON(v.Elem().Interface())
			if err != nil {
				t.Fatal(err)
			}
			if checkFlat(t, b, typ, false) {
				taken++
			}
		}
		// Plain values (no escapes, valid UTF-8) are always taken.
		v := reflect.New(typ)
		for i := range typ.NumField() {
			switch f := v.Elem().Field(i); f.Kind() {
			case reflect.String:
				f.SetString("值-" + typ.Field(i).Name)
			case reflect.Int:
				f.SetInt(int64(-7 * (i + 1)))
			}
		}
		b, _ := marshalJSON(v.Elem().Interface())
		if !checkFlat(t, b, typ, false) {
			t.Errorf("%s: the flat reader refuses %s", typ, b)
		}
	}
	if taken == 0 {
		t.Fatal("the flat reader took none of the random values")
	}
}

func TestFlatReaderLeavesTheRestToTheLibrary(t *testing.T) {
	for _, in := range []string{
		``, `{`, `}`, `{}`, ` {}`, `{} `, `{"id":"a"}`, `{"id":"a",}`, `{"id":"a","id":"b"}`, `{"ID":"a"}`,
		`{"id":null}`, `{"id":1}`, `{"id":"a\"b"}`, `{"id":"\u0061"}`, `{"id":"a` + "\xff" + `"}`, `{"id":"a` + "\n" + `"}`,
		`{"id": "a"}`, `{"unknown":"x"}`, `{"live_count":01}`, `{"live_count":-0}`, `{"live_count":1.5}`,
		`{"live_count":1e3}`, `{"live_count":1234567890}`, `{"live_count":"1"}`, `{"version":-12}`, `{"version":2}`,
		`{"id":"a"}{"id":"b"}`, `{"id":"a"}x`, `{"agency_id":"a","period":"2024","limit":"100000.00","used":"5000.00","remaining":"95000.00","live_count":1}`,
	} {
		for _, zero := range append(append([]any{}, stateTypes...), argTypes...) {
			checkFlat(t, []byte(in), reflect.TypeOf(zero).Elem(), isArg(zero))
		}
	}
}

func FuzzFlatReader(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, zero := range stateTypes {
		v := reflect.New(reflect.TypeOf(zero).Elem())
		fill(&testing.T{}, r, v.Elem())
		b, _ := marshalJSON(v.Elem().Interface())
		f.Add(b)
	}
	f.Add([]byte(`{"enterprise_id":"91650100MA7XXXXX0X","certificate_no":"GR202465000001"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, zero := range append(append([]any{}, stateTypes...), argTypes...) {
			checkFlat(t, b, reflect.TypeOf(zero).Elem(), isArg(zero))
		}
	})
}

func isArg(v any) bool {
	for _, a := range argTypes {
		if reflect.TypeOf(a) == reflect.TypeOf(v) {
			return true
		}
	}
	return false
}

// checkFlat decodes b into typ with the flat reader and with the library,
// into a zero value and into one already set (members absent from b keep
// their values), and fails unless the reader either refuses b and leaves
// its target alone or decodes it exactly as the library does. It reports
// whether the reader took b.
func checkFlat(t *testing.T, b []byte, typ reflect.Type, arg bool) bool {
	t.Helper()
	took := false
	for _, prefill := range []bool{false, true} {
		fast, lib := reflect.New(typ), reflect.New(typ)
		if prefill {
			fill(t, rand.New(rand.NewPCG(7, 8)), fast.Elem())
			lib.Elem().Set(fast.Elem())
		}
		before := reflect.New(typ).Elem()
		before.Set(fast.Elem())
		f := flatOf(fast.Interface())
		if f == nil {
			t.Fatalf("%s has no flat reader", typ)
		}
		ok := decodeFlat(b, f)
		took = took || ok
		if !ok {
			if !reflect.DeepEqual(fast.Elem().Interface(), before.Interface()) {
				t.Fatalf("%s: refused %q but changed its target", typ, b)
			}
			continue
		}
		var err error
		if arg {
			err = jsonv2.Unmarshal(b, lib.Interface(), jsonv2.RejectUnknownMembers(true))
		} else {
			err = jsonv2.Unmarshal(b, lib.Interface())
		}
		if err != nil {
			t.Fatalf("%s: took %q, which the library refuses: %v", typ, b, err)
		}
		if !reflect.DeepEqual(fast.Elem().Interface(), lib.Elem().Interface()) {
			t.Fatalf("%s: %q decodes to\n %+v\nnot to the library's\n %+v", typ, b, fast.Elem().Interface(), lib.Elem().Interface())
		}
	}
	return took
}

// go test -run '^$' -bench 'Codec' ./chaincode/voucher/
func benchVoucher() Voucher {
	return Voucher{ID: "V-2024-0123456789abcdef", AgencyID: "91650100MA7XXXXX0X", EnterpriseID: "91650100MA7YYYYY1Y",
		CertificateNo: "GR202465000001", ServiceRecordID: "S-0123456789abcdef", Period: "2024", AmountCNY: "5000.00",
		PolicyVersion: 1, Status: StatusIssued, IssuedAt: "2024-12-01T08:00:00.123456789Z", UpdatedAt: "2024-12-01T08:00:00.123456789Z",
		LastAction: "Claim", LastActor: "agency-91650100MA7XXXXX0X@HongshanAgenciesMSP"}
}

func BenchmarkCodecWriteVoucher(b *testing.B) {
	v := benchVoucher()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := marshalJSON(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCodecReadVoucher(b *testing.B) {
	raw, _ := marshalJSON(benchVoucher())
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var v Voucher
		if !decodeFlat(raw, &v) {
			b.Fatal("refused")
		}
	}
}

func TestFormatInstantMatchesTime(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for range 20000 {
		at := time.Unix(r.Int64N(300_000_000_000)-62_000_000_000, r.Int64N(1_000_000_000)).In(time.FixedZone("X", r.IntN(50000)-25000))
		if got, want := formatInstant(at), at.UTC().Format(TimeLayout); got != want {
			t.Fatalf("%v: got %s, want %s", at, got, want)
		}
		if got, want := formatDate(at.In(cst)), at.In(cst).Format(dateLayout); got != want {
			t.Fatalf("%v: date %s, want %s", at, got, want)
		}
	}
}
