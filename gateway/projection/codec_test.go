package projection

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// genString draws strings of every shape the codec treats specially, and
// near misses of each.
func genString() *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.Just(""),
		rapid.SampledFrom(symbols),
		rapid.SampledFrom([]string{
			"2024-05-01T08:00:00Z", "2024-05-01T08:00:00.5Z", "2024-05-01T08:00:00.000000000Z",
			"2024-05-01T08:00:00.123456789Z", "2024-05-01T08:00:00.120Z", "2024-05-01T08:00:00+08:00",
			"2024-05-01T24:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
			"2024-02-29", "2023-02-29", "0000-01-01", "1969-12-31", "2024-5-01",
			"deadbeef", "DEADBEEF", "deadbee", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			"V-2024-0123456789abcdef", "914403001922038216", "GR202365000123", "5000.00", "天山区",
		}),
		rapid.String(),
		rapid.StringMatching(`[0-9a-f]{8,70}`),
		rapid.StringMatching(`[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z)?`),
	)
}

// fill sets every exported string and int field of *p by reflection, so a
// field added to a domain type and forgotten by the codec fails the test.
func fill(t *rapid.T, p any) {
	v := reflect.ValueOf(p).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		name := v.Type().Field(i).Name
		switch f.Kind() {
		case reflect.String:
			f.SetString(genString().Draw(t, name))
		case reflect.Int:
			f.SetInt(int64(rapid.Int().Draw(t, name)))
		default:
			t.Fatalf("field %s has kind %s the codec test does not know", name, f.Kind())
		}
	}
}

func TestCodecRoundTripsEveryField(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var a voucher.Agency
		fill(t, &a)
		if got, err := decodeAgency(a.ID, encodeAgency(nil, &a)); err != nil || got != a {
			t.Fatalf("agency %+v → %+v %v", a, got, err)
		}
		var c voucher.CapUsage
		fill(t, &c)
		if got, err := decodeCap(c.AgencyID, c.Period, encodeCap(nil, &c)); err != nil || got != c {
			t.Fatalf("cap %+v → %+v %v", c, got, err)
		}
		var cert voucher.Certification
		fill(t, &cert)
		if got, err := decodeCertification(cert.CertificateNo, encodeCertification(nil, &cert)); err != nil || got != cert {
			t.Fatalf("certification %+v → %+v %v", cert, got, err)
		}
		var r voucher.ServiceRecord
		fill(t, &r)
		if got, err := decodeService(r.ID, encodeService(nil, &r)); err != nil || got != r {
			t.Fatalf("service %+v → %+v %v", r, got, err)
		}
		var v voucher.Voucher
		fill(t, &v)
		b := encodeVoucher(nil, &v)
		if got, err := decodeVoucher(v.AgencyID, v.ID, b); err != nil || got != v {
			t.Fatalf("voucher %+v → %+v %v", v, got, err)
		}
		if st, period, err := voucherStatusPeriod(b); err != nil || st != v.Status || period != v.Period {
			t.Fatalf("voucherStatusPeriod = %q %q %v, want %q %q", st, period, err, v.Status, v.Period)
		}
		var p voucher.Policy
		fill(t, &p)
		if got, err := decodePolicy(p.Version, encodePolicy(nil, &p)); err != nil || got != p {
			t.Fatalf("policy %+v → %+v %v", p, got, err)
		}
		items := make([]voucher.HistoryItem, rapid.IntRange(0, maxHistoryItems).Draw(t, "steps"))
		for i := range items {
			fill(t, &items[i])
		}
		agency := rapid.String().Draw(t, "agency")
		ref := encodeVoucherRef(nil, agency, items)
		if gotAgency, got, err := decodeVoucherRef(ref); err != nil || gotAgency != agency || !reflect.DeepEqual(got, items) {
			t.Fatalf("voucher ref %q %+v → %q %+v %v", agency, items, gotAgency, got, err)
		}
		if gotAgency, err := voucherRefAgency(ref); agency != "" && (err != nil || gotAgency != agency) {
			t.Fatalf("voucherRefAgency = %q %v, want %q", gotAgency, err, agency)
		}
	})
}

func TestCodecRefusesGarbage(t *testing.T) {
	v := newVoucher("V-2024-0000000000000001", agencyID(1), "2024")
	good := encodeVoucher(nil, &v)
	for i := 0; i < len(good); i++ {
		if _, err := decodeVoucher(v.AgencyID, v.ID, good[:i]); err == nil {
			t.Fatalf("a voucher record cut at %d of %d bytes decoded", i, len(good))
		}
	}
	if _, err := decodeVoucher(v.AgencyID, v.ID, append(good, 0)); err == nil {
		t.Fatal("a voucher record with a trailing byte decoded")
	}
	rapid.Check(t, func(t *rapid.T) {
		b := rapid.SliceOf(rapid.Byte()).Draw(t, "record")
		_, _ = decodeVoucher("a", "b", b) // must not panic
		_, _, _ = decodeVoucherRef(b)
		_, _ = voucherRefAgency(b)
		_, _ = decodePolicy(2, b)
	})
}

func TestCodecIsCompact(t *testing.T) {
	v := newVoucher("V-2024-0123456789abcdef", agencyID(1), "2024")
	v.EnterpriseID, v.ServiceRecordID, v.LastActor = "91650104MA7XXXXX1X", "S-0123456789abcdef", "agency-1@HongshanEmbeddedMSP"
	js, _ := json.Marshal(v)
	bin := encodeVoucher(nil, &v)
	if len(bin)*5 > len(js)*2 {
		t.Fatalf("compact voucher is %d bytes, JSON %d: want under 40%%", len(bin), len(js))
	}
	if strings.Contains(string(bin), v.ID) || strings.Contains(string(bin), v.AgencyID) {
		t.Fatal("the record repeats the key's identity")
	}
}

// BenchmarkDecodeVoucher compares the stored form with JSON.
func BenchmarkDecodeVoucher(b *testing.B) {
	v := newVoucher("V-2024-0123456789abcdef", agencyID(1), "2024")
	v.Status, v.RedemptionRequestedAt = voucher.StatusRedemptionRequested, at(9)
	js, _ := json.Marshal(v)
	bin := encodeVoucher(nil, &v)
	b.Run("compact", func(b *testing.B) {
		b.ReportMetric(float64(len(bin)), "bytes/record")
		for b.Loop() {
			if _, err := decodeVoucher(v.AgencyID, v.ID, bin); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportMetric(float64(len(js)), "bytes/record")
		for b.Loop() {
			var out voucher.Voucher
			if err := json.Unmarshal(js, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
