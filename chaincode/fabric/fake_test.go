package fabric

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeLedger is a peer's world state for unit tests. It keeps Fabric's
// semantics where the contract could notice them: a transaction does not
// read its own writes, its writes apply only when the chaincode answers OK,
// history comes back newest first, only the last SetEvent counts, and
// composite keys are built by the shim's own CreateCompositeKey.
type fakeLedger struct {
	state   map[string][]byte
	history map[string][]*queryresult.KeyModification // oldest first
	clock   time.Time
	seq     int
}

func newFakeLedger() *fakeLedger {
	return &fakeLedger{
		state:   map[string][]byte{},
		history: map[string][]*queryresult.KeyModification{},
		clock:   time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
	}
}

// fakeStub implements the parts of shim.ChaincodeStubInterface the adapter
// uses; any other method panics through the nil embedded interface, which a
// test would notice at once.
type fakeStub struct {
	shim.ChaincodeStubInterface
	l          *fakeLedger
	args       []string
	txID       string
	ts         *timestamppb.Timestamp
	creator    []byte
	writes     map[string][]byte // nil value: delete
	event      *peer.ChaincodeEvent
	eventCalls int
}

// invoke runs one transaction as creator and commits its writes when the
// response is OK.
func (l *fakeLedger) invoke(cc shim.Chaincode, creator []byte, args ...string) (*peer.Response, *fakeStub) {
	l.seq++
	l.clock = l.clock.Add(time.Minute)
	stub := &fakeStub{
		l:       l,
		args:    args,
		txID:    fmt.Sprintf("%064x", l.seq),
		ts:      timestamppb.New(l.clock.In(time.FixedZone("CST", 8*3600))),
		creator: creator,
		writes:  map[string][]byte{},
	}
	resp := cc.Invoke(stub)
	if resp.GetStatus() < shim.ERRORTHRESHOLD {
		keys := make([]string, 0, len(stub.writes))
		for k := range stub.writes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := stub.writes[k]
			if v == nil {
				delete(l.state, k)
			} else {
				l.state[k] = v
			}
			l.history[k] = append(l.history[k], &queryresult.KeyModification{
				TxId: stub.txID, Value: v, Timestamp: stub.ts, IsDelete: v == nil,
			})
		}
	}
	return resp, stub
}

func (s *fakeStub) GetFunctionAndParameters() (string, []string) {
	if len(s.args) == 0 {
		return "", nil
	}
	return s.args[0], s.args[1:]
}

func (s *fakeStub) GetTxID() string                                 { return s.txID }
func (s *fakeStub) GetTxTimestamp() (*timestamppb.Timestamp, error) { return s.ts, nil }
func (s *fakeStub) GetCreator() ([]byte, error)                     { return s.creator, nil }

// GetState reads committed state only, as Fabric does.
func (s *fakeStub) GetState(key string) ([]byte, error) {
	if key == "" {
		return nil, fmt.Errorf("empty key")
	}
	return s.l.state[key], nil
}

func (s *fakeStub) PutState(key string, value []byte) error {
	if key == "" {
		return fmt.Errorf("empty key")
	}
	if len(value) == 0 {
		s.writes[key] = nil // Fabric treats an empty write as a delete
		return nil
	}
	s.writes[key] = append([]byte(nil), value...)
	return nil
}

func (s *fakeStub) DelState(key string) error {
	if key == "" {
		return fmt.Errorf("empty key")
	}
	s.writes[key] = nil
	return nil
}

func (s *fakeStub) SetEvent(name string, payload []byte) error {
	if name == "" {
		return fmt.Errorf("event name can not be empty string")
	}
	s.eventCalls++
	s.event = &peer.ChaincodeEvent{EventName: name, Payload: payload}
	return nil
}

// GetStateByPartialCompositeKey scans committed state in key order, like the
// peer's range [prefix, prefix+U+10FFFF).
func (s *fakeStub) GetStateByPartialCompositeKey(objectType string, attrs []string) (shim.StateQueryIteratorInterface, error) {
	prefix, err := shim.CreateCompositeKey(objectType, attrs)
	if err != nil {
		return nil, err
	}
	var kvs []*queryresult.KV
	for k, v := range s.l.state {
		if strings.HasPrefix(k, prefix) {
			kvs = append(kvs, &queryresult.KV{Key: k, Value: v})
		}
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
	return &fakeKVIter{kvs: kvs}, nil
}

// GetHistoryForKey returns history newest first, as Fabric 2.x does.
func (s *fakeStub) GetHistoryForKey(key string) (shim.HistoryQueryIteratorInterface, error) {
	h := s.l.history[key]
	out := make([]*queryresult.KeyModification, len(h))
	for i, m := range h {
		out[len(h)-1-i] = m
	}
	return &fakeHistIter{mods: out}, nil
}

type fakeKVIter struct {
	kvs    []*queryresult.KV
	closed bool
}

func (i *fakeKVIter) HasNext() bool { return !i.closed && len(i.kvs) > 0 }
func (i *fakeKVIter) Close() error  { i.closed = true; return nil }
func (i *fakeKVIter) Next() (*queryresult.KV, error) {
	if !i.HasNext() {
		return nil, fmt.Errorf("no more")
	}
	kv := i.kvs[0]
	i.kvs = i.kvs[1:]
	return kv, nil
}

type fakeHistIter struct {
	mods []*queryresult.KeyModification
}

func (i *fakeHistIter) HasNext() bool { return len(i.mods) > 0 }
func (i *fakeHistIter) Close() error  { return nil }
func (i *fakeHistIter) Next() (*queryresult.KeyModification, error) {
	if len(i.mods) == 0 {
		return nil, fmt.Errorf("no more")
	}
	m := i.mods[0]
	i.mods = i.mods[1:]
	return m, nil
}

// testCA issues X.509 certificates the way Fabric CA does: attributes in
// the extension 1.2.3.4.5.6.7.8.1 as JSON {"attrs":{...}}.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

var attrOID = asn1.ObjectIdentifier{1, 2, 3, 4, 5, 6, 7, 8, 1}

func newTestCA(t *testing.T, org string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ca." + org, Organization: []string{org}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{key: key, cert: cert}
}

// certSpec describes a certificate to issue. rawAttrs, when set, replaces
// the attribute extension's value verbatim.
type certSpec struct {
	cn       string
	ous      []string
	attrs    map[string]string
	rawAttrs []byte
}

// creator issues a certificate and returns the serialized identity the peer
// hands the chaincode as the transaction's creator.
func (ca *testCA) creator(t *testing.T, mspID string, spec certSpec) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: spec.cn, OrganizationalUnit: spec.ous},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	ext := spec.rawAttrs
	if ext == nil && spec.attrs != nil {
		if ext, err = json.Marshal(map[string]map[string]string{"attrs": spec.attrs}); err != nil {
			t.Fatal(err)
		}
	}
	if ext != nil {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: attrOID, Value: ext}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	b, err := proto.Marshal(&msp.SerializedIdentity{Mspid: mspID, IdBytes: pemBytes})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
