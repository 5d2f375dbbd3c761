package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
)

// The advisory lock namespaces (the first key of the two-key form), so
// that marketetl's locks never meet another application's.
const (
	// nsInstance: one lock per live instance, keyed by instances.lock_key.
	nsInstance int32 = 0x45544c49 // "ETLI"
	// nsCollector: one lock per owned collector, keyed by collectorKey.
	nsCollector int32 = 0x45544c43 // "ETLC"
)

// InstanceLockNamespace is the first key of an instance's advisory lock
// (the second is its instances.lock_key): SQL outside the service that
// tells whether an instance is live, as the Collectors dashboard does,
// looks for a granted lock with this classid in pg_locks.
const InstanceLockNamespace = nsInstance

// collectorKey is the second key of a collector's lock: the FNV-1a hash of
// its name. Two names with the same hash share a lock, which is still
// exclusive (they can only be owned by the same instance); with 32 bits
// that is rare enough that the coupling is accepted (docs/SCALING.md).
func collectorKey(name string) int32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int32(h.Sum32())
}

// ErrInstanceInUse: another live session holds this instance id's lock
// (two processes started with the same ETL_INSTANCE_ID).
var ErrInstanceInUse = errors.New("instance id in use by a live instance")

// SessionConfig configures a PostgreSQL Session.
type SessionConfig struct {
	// URL is the database (DATABASE_URL).
	URL string
	// InstanceID names the instance.
	InstanceID string
	// StartedAt is when the instance started, for the instances table.
	StartedAt time.Time
	// Lease is the session's idle_session_timeout, and sets its TCP
	// keepalives so that a vanished client is noticed within it.
	Lease time.Duration
	// Log receives the session's warnings.
	Log *zap.Logger
}

// PGSession is a Session on one dedicated PostgreSQL connection, outside
// the writer's pool: its advisory locks live exactly as long as it does.
type PGSession struct {
	id  string
	key int32
	log *zap.Logger

	mu   sync.Mutex // guards conn: one statement at a time
	conn *pgx.Conn
}

var _ Session = (*PGSession)(nil)

// Dial opens the instance's session: it connects with server-side TCP
// keepalives and idle_session_timeout set to the lease (PostgreSQL 14 and
// newer; on older servers a paused instance keeps its locks until its
// connection drops, see docs/SCALING.md), registers the instance in the
// instances table and takes the instance lock.
func Dial(ctx context.Context, cfg SessionConfig) (*PGSession, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	cc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	idle := max(time.Second, cfg.Lease/4)
	cc.RuntimeParams["application_name"] = "marketetl cluster " + cfg.InstanceID
	// The server probes a silent client after idle, then every second,
	// three times: a vanished machine's session ends within the lease.
	cc.RuntimeParams["tcp_keepalives_idle"] = strconv.Itoa(int(idle / time.Second))
	cc.RuntimeParams["tcp_keepalives_interval"] = "1"
	cc.RuntimeParams["tcp_keepalives_count"] = "3"
	d := &net.Dialer{Timeout: cfg.Lease, KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: idle, Interval: time.Second, Count: 3}}
	cc.DialFunc = d.DialContext
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect cluster session: %w", err)
	}
	s := &PGSession{id: cfg.InstanceID, log: cfg.Log, conn: conn}
	if err := s.setup(ctx, cfg); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

func (s *PGSession) setup(ctx context.Context, cfg SessionConfig) error {
	ms := strconv.FormatInt(cfg.Lease.Milliseconds(), 10)
	if _, err := s.conn.Exec(ctx, "SET idle_session_timeout = "+ms); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42704" { // undefined_object: before PostgreSQL 14
			return fmt.Errorf("set idle_session_timeout: %w", err)
		}
		s.log.Warn("the server has no idle_session_timeout (PostgreSQL before 14): a paused instance keeps its collectors' locks until its connection drops")
	}
	if _, err := s.conn.Exec(ctx, `INSERT INTO instances (instance_id) VALUES ($1) ON CONFLICT (instance_id) DO NOTHING`, s.id); err != nil {
		return fmt.Errorf("register instance %s: %w", s.id, err)
	}
	if err := s.conn.QueryRow(ctx, `SELECT lock_key FROM instances WHERE instance_id = $1`, s.id).Scan(&s.key); err != nil {
		return fmt.Errorf("read instance %s: %w", s.id, err)
	}
	var ok bool
	if err := s.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, nsInstance, s.key).Scan(&ok); err != nil {
		return fmt.Errorf("lock instance %s: %w", s.id, err)
	}
	if !ok {
		return fmt.Errorf("lock instance %s: %w", s.id, ErrInstanceInUse)
	}
	if _, err := s.conn.Exec(ctx, `UPDATE instances SET started_at = $2, heartbeat_at = now(), owned = '{}' WHERE instance_id = $1`,
		s.id, cfg.StartedAt); err != nil {
		return fmt.Errorf("register instance %s: %w", s.id, err)
	}
	return nil
}

// Heartbeat implements Session.
func (s *PGSession) Heartbeat(ctx context.Context, owned []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if owned == nil {
		owned = []string{}
	}
	tag, err := s.conn.Exec(ctx, `UPDATE instances SET heartbeat_at = now(), owned = $2 WHERE instance_id = $1`, s.id, owned)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("heartbeat: instance %s has no row", s.id)
	}
	return nil
}

// TryLock implements Session.
func (s *PGSession) TryLock(ctx context.Context, name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ok bool
	if err := s.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, nsCollector, collectorKey(name)).Scan(&ok); err != nil {
		return false, fmt.Errorf("lock collector %s: %w", name, err)
	}
	return ok, nil
}

// Unlock implements Session.
func (s *PGSession) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ok bool
	if err := s.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1, $2)`, nsCollector, collectorKey(name)).Scan(&ok); err != nil {
		return fmt.Errorf("unlock collector %s: %w", name, err)
	}
	if !ok {
		return fmt.Errorf("unlock collector %s: the lock was not held", name)
	}
	return nil
}

// locksSQL lists marketetl's granted advisory locks in this database.
const locksSQL = `
SELECT classid::bigint, objid::bigint, pid FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 2
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND classid::bigint IN ($1, $2)`

// instanceLive is true for the instances row i whose instance lock is
// held ($1 is nsInstance; lock keys are positive).
const instanceLive = `EXISTS (
	SELECT 1 FROM pg_locks l
	WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
	  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
	  AND l.classid::bigint = $1 AND l.objid::bigint = i.lock_key)`

// View implements Session. It also clears the owned list of every
// instance that no longer holds its instance lock, so that the instances
// table never lists a collector under a dead instance and its new owner
// at once, and deletes the rows of instances dead for a day.
func (s *PGSession) View(ctx context.Context, names []string) (View, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows, err := s.conn.Query(ctx, locksSQL, int64(nsInstance), int64(nsCollector))
	if err != nil {
		return View{}, fmt.Errorf("read locks: %w", err)
	}
	type lock struct {
		ns, key int64
		pid     int32
	}
	locks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lock, error) {
		var l lock
		err := r.Scan(&l.ns, &l.key, &l.pid)
		return l, err
	})
	if err != nil {
		return View{}, fmt.Errorf("read locks: %w", err)
	}
	rows, err = s.conn.Query(ctx, `SELECT instance_id, lock_key FROM instances`)
	if err != nil {
		return View{}, fmt.Errorf("read instances: %w", err)
	}
	type inst struct {
		id  string
		key int32
	}
	insts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (inst, error) {
		var i inst
		err := r.Scan(&i.id, &i.key)
		return i, err
	})
	if err != nil {
		return View{}, fmt.Errorf("read instances: %w", err)
	}
	byKey := map[int64]string{}
	for _, i := range insts {
		byKey[int64(uint32(i.key))] = i.id
	}
	byPID := map[int32]string{}
	v := View{Owner: map[string]string{}}
	for _, l := range locks {
		if l.ns != int64(nsInstance) {
			continue
		}
		if id, ok := byKey[l.key]; ok {
			byPID[l.pid] = id
			v.Live = append(v.Live, id)
		}
	}
	held := map[int64]string{}
	for _, l := range locks {
		if l.ns != int64(nsCollector) {
			continue
		}
		owner, ok := byPID[l.pid]
		if !ok {
			owner = "pid " + strconv.Itoa(int(l.pid)) // not a marketetl instance
		}
		held[l.key] = owner
	}
	for _, n := range names {
		if owner, ok := held[int64(uint32(collectorKey(n)))]; ok {
			v.Owner[n] = owner
		}
	}
	if _, err := s.conn.Exec(ctx, `
		UPDATE instances i SET owned = '{}'
		WHERE owned <> '{}' AND NOT `+instanceLive, int64(nsInstance)); err != nil {
		return View{}, fmt.Errorf("clear dead instances: %w", err)
	}
	// A killed instance's row stays, for the status report, for a day.
	if _, err := s.conn.Exec(ctx, `
		DELETE FROM instances i
		WHERE heartbeat_at < now() - interval '1 day' AND NOT `+instanceLive, int64(nsInstance)); err != nil {
		return View{}, fmt.Errorf("delete dead instances: %w", err)
	}
	return v, nil
}

// Instances implements Session.
func (s *PGSession) Instances(ctx context.Context) ([]Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows, err := s.conn.Query(ctx, `
		SELECT instance_id, started_at, heartbeat_at, extract(epoch FROM now() - heartbeat_at)::float8, owned,
		       `+instanceLive+`
		FROM instances i ORDER BY instance_id`, int64(nsInstance))
	if err != nil {
		return nil, fmt.Errorf("read instances: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Instance, error) {
		var i Instance
		err := r.Scan(&i.ID, &i.StartedAt, &i.HeartbeatAt, &i.HeartbeatAge, &i.Owned, &i.Live)
		return i, err
	})
	if err != nil {
		return nil, fmt.Errorf("read instances: %w", err)
	}
	return out, nil
}

// Close implements Session.
func (s *PGSession) Close(ctx context.Context, leaving bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if leaving && !s.conn.IsClosed() {
		if _, e := s.conn.Exec(ctx, `DELETE FROM instances WHERE instance_id = $1`, s.id); e != nil {
			err = fmt.Errorf("delete instance %s: %w", s.id, e)
		}
	}
	if e := s.conn.Close(ctx); e != nil && err == nil {
		err = fmt.Errorf("close cluster session: %w", e)
	}
	return err
}
