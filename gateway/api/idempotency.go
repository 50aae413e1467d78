package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// HeaderIdempotencyKey names a POST's idempotency key; HeaderReplayed marks
// an answer replayed from the first request with the same key.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderReplayed       = "Idempotent-Replayed"
	// MaxIdempotencyKeyLen bounds a key: 1-128 printable ASCII characters.
	MaxIdempotencyKeyLen = 128
)

var (
	bucketIdem       = []byte("idempotency")
	bucketIdemExpiry = []byte("idempotency_expiry") // 8-byte created-at (ns) + key → nil
)

// maxIdemBatch bounds how many answers one bbolt commit stores.
const maxIdemBatch = 512

// storedAnswer is the first decided answer to a (principal, key).
type storedAnswer struct {
	Fingerprint string `json:"fp"`
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Location    string `json:"location,omitempty"`
	Body        []byte `json:"body"`
	CreatedAtNS int64  `json:"created_at_ns"`
}

type idemWrite struct {
	key  string
	ans  *storedAnswer
	done chan error
}

type flight struct {
	fingerprint string
	done        chan struct{}
}

// idempotency keeps answers in the gateway's bbolt database. Writes from
// concurrent requests are group-committed by one goroutine: the next commit
// starts as soon as the previous one's fsync returns.
type idempotency struct {
	db         *bolt.DB
	ttl        time.Duration
	maxEntries int
	now        func() time.Time
	log        *slog.Logger

	writes chan idemWrite
	stop   chan struct{}
	done   chan struct{}
	count  int // entries stored; owned by the writer goroutine

	mu       sync.Mutex
	inflight map[string]*flight
}

func openIdempotency(db *bolt.DB, ttl time.Duration, maxEntries int, now func() time.Time, log *slog.Logger) (*idempotency, error) {
	s := &idempotency{
		db: db, ttl: ttl, maxEntries: max(maxEntries, 1), now: now, log: log,
		writes:   make(chan idemWrite, maxIdemBatch),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		inflight: map[string]*flight{},
	}
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketIdem)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketIdemExpiry); err != nil {
			return err
		}
		s.count = b.Stats().KeyN
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("idempotency: open buckets: %w", err)
	}
	go s.run()
	return s, nil
}

// close stops the writer after the answers queued so far are stored.
func (s *idempotency) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

var errIdemClosed = errors.New("idempotency store is closed")

// begin either returns the stored answer to replay, or makes the caller the
// one request running under key and returns finish, which stores ans (nil:
// nothing to keep) and releases requests waiting on the same key.
func (s *idempotency) begin(ctx context.Context, key, fingerprint string) (*storedAnswer, func(ans *storedAnswer) error, error) {
	reused := Errorf(CodeIdempotencyKeyReused, "this Idempotency-Key was used with another request; use a new key")
	for {
		s.mu.Lock()
		if f, ok := s.inflight[key]; ok {
			s.mu.Unlock()
			if f.fingerprint != fingerprint {
				return nil, nil, reused
			}
			select {
			case <-f.done:
				continue
			case <-ctx.Done():
				return nil, nil, Errorf(CodeUnavailable, "gave up waiting for the first request with this Idempotency-Key")
			}
		}
		ans, err := s.lookup(key)
		if err != nil {
			s.mu.Unlock()
			return nil, nil, err
		}
		if ans != nil {
			s.mu.Unlock()
			if ans.Fingerprint != fingerprint {
				return nil, nil, reused
			}
			return ans, nil, nil
		}
		f := &flight{fingerprint: fingerprint, done: make(chan struct{})}
		s.inflight[key] = f
		s.mu.Unlock()
		finish := func(ans *storedAnswer) error {
			var err error
			if ans != nil {
				ans.Fingerprint = fingerprint
				err = s.save(key, ans)
			}
			s.mu.Lock()
			delete(s.inflight, key)
			s.mu.Unlock()
			close(f.done)
			return err
		}
		return nil, finish, nil
	}
}

// lookup returns the unexpired answer under key, or nil.
func (s *idempotency) lookup(key string) (*storedAnswer, error) {
	var ans *storedAnswer
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketIdem).Get([]byte(key))
		if raw == nil {
			return nil
		}
		var a storedAnswer
		if err := json.Unmarshal(raw, &a); err != nil {
			return fmt.Errorf("idempotency: decode: %w", err)
		}
		if s.now().Sub(time.Unix(0, a.CreatedAtNS)) < s.ttl {
			ans = &a
		}
		return nil
	})
	return ans, err
}

// save stores ans durably (fsync) before returning.
func (s *idempotency) save(key string, ans *storedAnswer) error {
	ans.CreatedAtNS = s.now().UnixNano()
	w := idemWrite{key: key, ans: ans, done: make(chan error, 1)}
	select {
	case s.writes <- w:
	case <-s.stop:
		return errIdemClosed
	}
	select {
	case err := <-w.done:
		return err
	case <-s.done:
		return errIdemClosed
	}
}

// run is the writer: it commits queued answers in batches and sweeps
// expired ones once a minute.
func (s *idempotency) run() {
	defer close(s.done)
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for {
		var batch []idemWrite
		stopping := false
		select {
		case w := <-s.writes:
			batch = append(batch, w)
		case <-sweep.C:
			before := s.count
			if err := s.db.Update(s.evict); err != nil {
				s.count = before
				s.log.Warn("idempotency sweep failed", "error", err.Error())
			}
			continue
		case <-s.stop:
			stopping = true // store what is queued, then end
		}
	drain:
		for len(batch) < maxIdemBatch {
			select {
			case w := <-s.writes:
				batch = append(batch, w)
			default:
				break drain
			}
		}
		if len(batch) == 0 {
			return // stopping with nothing queued
		}
		before := s.count
		err := s.db.Update(func(tx *bolt.Tx) error {
			s.count = before
			b, idx := tx.Bucket(bucketIdem), tx.Bucket(bucketIdemExpiry)
			for _, w := range batch {
				raw, err := json.Marshal(w.ans)
				if err != nil {
					return err
				}
				if b.Get([]byte(w.key)) == nil {
					s.count++
				}
				if err := b.Put([]byte(w.key), raw); err != nil {
					return err
				}
				if err := idx.Put(expiryKey(w.ans.CreatedAtNS, w.key), nil); err != nil {
					return err
				}
			}
			return s.evict(tx)
		})
		if err != nil {
			s.count = before
		}
		for _, w := range batch {
			w.done <- err
		}
		if stopping && len(s.writes) == 0 {
			return
		}
	}
}

// expiryKey orders answers by creation time: 8 big-endian bytes of the
// instant in nanoseconds (never negative for a real clock), then the key.
func expiryKey(createdAtNS int64, key string) []byte {
	var ns uint64
	if createdAtNS > 0 {
		ns = uint64(createdAtNS)
	}
	k := make([]byte, 8, 8+len(key))
	binary.BigEndian.PutUint64(k, ns)
	return append(k, key...)
}

// expiryInstant is the creation time of an expiry index key.
func expiryInstant(k []byte) int64 {
	ns := binary.BigEndian.Uint64(k[:8])
	if ns > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(ns)
}

// evict removes expired answers, then the oldest ones while there are more
// than maxEntries.
func (s *idempotency) evict(tx *bolt.Tx) error {
	b, idx := tx.Bucket(bucketIdem), tx.Bucket(bucketIdemExpiry)
	cutoff := s.now().Add(-s.ttl).UnixNano()
	c := idx.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.First() {
		ts := expiryInstant(k)
		if ts >= cutoff && s.count <= s.maxEntries {
			return nil
		}
		key := k[8:]
		// A key reused after expiry has a newer record: delete only the
		// record this index entry was made for.
		if raw := b.Get(key); raw != nil {
			var a storedAnswer
			if err := json.Unmarshal(raw, &a); err != nil || a.CreatedAtNS == ts {
				if err := b.Delete(key); err != nil {
					return err
				}
				s.count--
			}
		}
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// validIdempotencyKey checks 1-128 printable ASCII characters.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > MaxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// idempotent makes a POST route honour Idempotency-Key. The first decided
// answer (2xx or 4xx) is stored before it is sent; a repeat with the same
// key and request gets it again with Idempotent-Replayed: true; the same key
// with another request is IDEMPOTENCY_KEY_REUSED; a concurrent duplicate
// waits for the first. With keep false (an answer holding a secret) the
// answer is never stored, and only concurrent duplicates are held back.
func (a *API) idempotent(keep bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		values, present := c.Request.Header[HeaderIdempotencyKey]
		if !present {
			c.Next()
			return
		}
		if len(values) != 1 || !validIdempotencyKey(values[0]) {
			writeError(c, Errorf(voucher.CodeInvalidArgument,
				"Idempotency-Key must be one value of 1-%d printable ASCII characters", MaxIdempotencyKeyLen))
			return
		}
		body, err := readBody(c)
		if err != nil {
			writeError(c, err)
			return
		}
		sum := sha256.New()
		fmt.Fprintf(sum, "%s %s?%s\n", c.Request.Method, c.Request.URL.Path, c.Request.URL.RawQuery)
		sum.Write(body)
		fingerprint := hex.EncodeToString(sum.Sum(nil))
		key := principalOf(c).Name + "\x00" + values[0]

		ans, finish, err := a.idem.begin(c.Request.Context(), key, fingerprint)
		if err != nil {
			writeError(c, err)
			return
		}
		if ans != nil {
			a.metrics.idempotentReplays.Inc()
			c.Header(HeaderReplayed, "true")
			if ans.Location != "" {
				c.Header("Location", ans.Location)
			}
			c.Data(ans.Status, ans.ContentType, ans.Body)
			c.Abort()
			return
		}

		orig := c.Writer
		bw := &bufferedWriter{ResponseWriter: orig}
		c.Writer = bw
		finished := false
		defer func() {
			if !finished { // a panic: nothing is kept, the recovery answers
				c.Writer = orig
				_ = finish(nil)
			}
		}()
		c.Next()
		c.Writer = orig
		finished = true
		status := bw.Status()
		var keepAns *storedAnswer
		if keep && status < http.StatusInternalServerError {
			keepAns = &storedAnswer{Status: status, ContentType: orig.Header().Get("Content-Type"),
				Location: orig.Header().Get("Location"), Body: bytes.Clone(bw.buf.Bytes())}
		}
		if err := finish(keepAns); err != nil {
			// The answer stands; only its replay is lost, so a retry runs
			// the request again and the ledger's own rules decide.
			a.log.Warn("idempotency: answer not stored", "request_id", requestIDOf(c), "error", err.Error())
		}
		orig.WriteHeader(status)
		_, _ = orig.Write(bw.buf.Bytes())
	}
}

// bufferedWriter holds a handler's answer until it is stored.
type bufferedWriter struct {
	gin.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (w *bufferedWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *bufferedWriter) WriteHeaderNow() { w.WriteHeader(http.StatusOK) }

func (w *bufferedWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.buf.Write(b)
}

func (w *bufferedWriter) WriteString(s string) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.buf.WriteString(s)
}

func (w *bufferedWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

func (w *bufferedWriter) Size() int {
	if w.status == 0 {
		return -1
	}
	return w.buf.Len()
}

func (w *bufferedWriter) Written() bool { return w.status != 0 }

// Flush does nothing: the answer is sent only after it is stored.
func (w *bufferedWriter) Flush() {}
