package service

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"marketetl/collector"
	"marketetl/dispatch"
	"marketetl/market"
	"marketetl/pipeline"
	"marketetl/pubsub"
	"marketetl/spool"
	"marketetl/store"
	"marketetl/validate"
)

// buildData builds the data path: the spool (SPOOL_DIR), the store
// writer, the publisher (REDIS_ENABLED) and the validating pipeline in
// front of them.
func (s *Service) buildData(flushes *flushMetrics) error {
	cfg, log := s.cfg, s.log
	var sp *spool.Spool
	var overflow store.Overflow
	if cfg.SpoolDir != "" {
		scfg := spool.Config{
			Dir: cfg.SpoolDir, MaxBytes: int64(cfg.SpoolMaxBytes),
			Fsync: spool.FsyncPolicy(cfg.SpoolFsync), FsyncInterval: cfg.SpoolFsyncInterval,
		}
		if s.opts.spool != nil {
			s.opts.spool(&scfg)
		}
		var err error
		sp, err = spool.Open(scfg, log.Named("spool"))
		if err != nil {
			return fmt.Errorf("SPOOL_DIR: %w", err)
		}
		overflow = sp
	}
	onFlush := flushes.observe
	if hook := s.opts.onFlush; hook != nil {
		onFlush = func(r store.FlushResult) {
			flushes.observe(r)
			hook(r)
		}
	}
	wcfg := store.Config{
		Overflow:         overflow,
		OnFlush:          onFlush,
		BatchSize:        cfg.StoreBatchSize,
		FlushInterval:    cfg.StoreFlushInterval,
		FlushTimeout:     cfg.StoreFlushTimeout,
		QueueSize:        cfg.StoreQueueSize,
		ShutdownTimeout:  cfg.ShutdownTimeout,
		DrainBy:          s.shutdown.drainBy,
		RawLimit:         cfg.StoreRawLimit,
		CopyWriters:      cfg.StoreCopyWriters,
		RejectsPerSecond: float64(cfg.StoreRejectsPerSec),
		RejectsBurst:     cfg.StoreRejectsPerSec,
	}
	if s.opts.store != nil {
		s.opts.store(&wcfg)
	}
	w, err := store.New(wcfg, s.pool, log.Named("store"))
	if err != nil {
		return err
	}
	s.writer = w
	// The future checks allow the offset measured from the exchanges'
	// trades when the local clock runs behind.
	v, err := validate.New(validate.Config{ClockSkew: cfg.ValidateClockSkew, ClockOffset: s.clocks.Offset}, s.opts.now)
	if err != nil {
		return err
	}
	var st pipeline.Store = w
	if sp != nil {
		s.spoolGaps = &gapRelay{log: log.Named("spool")}
		s.buffer, err = spool.NewBuffer(spool.BufferConfig{
			Gaps: s.spoolGaps, SpoolAfter: cfg.SpoolAfter,
			// Replayed records are validated again, like every input.
			Validate: func(rec market.Record) (market.Reject, bool) { return pipeline.Refusal(v, encodeRaw, rec) },
		}, sp, w, log.Named("spool"))
		if err != nil {
			return err
		}
		st = s.buffer
	}
	var pub pipeline.Publisher
	if cfg.RedisEnabled {
		pm, err := pubsub.NewMetrics(s.metrics)
		if err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
		p, err := pubsub.New(pubsub.Config{
			URL:           cfg.RedisURL,
			ChannelPrefix: cfg.RedisChannelPrefix,
			BatchSize:     cfg.RedisBatchSize,
			FlushInterval: cfg.RedisFlushInterval,
			QueueSize:     cfg.RedisQueueSize,
			StreamMaxLen:  int64(cfg.RedisStreamMaxLen),

			OnPublishReceived: s.opts.onPublishReceived,
			Metrics:           pm,
		}, log.Named("pubsub"))
		if err != nil {
			return err
		}
		s.pub = p
		pub = p
	}
	s.checker = v
	s.callbacks = dispatch.New(log.Named("callbacks"))
	s.pipe, err = pipeline.New(pipeline.Config{Checker: v, Store: st, Publisher: pub, Raw: encodeRaw, Subscribers: s.callbacks})
	if err != nil {
		return err
	}
	// Balances are private: a balance collector without publish: true
	// hands them to this pipeline, which has no live feed.
	s.privatePipe, err = pipeline.New(pipeline.Config{Checker: v, Store: st, Raw: encodeRaw, Subscribers: s.callbacks})
	return err
}

// encodeRaw is the raw form kept with a rejected record.
func encodeRaw(rec market.Record) []byte { return pubsub.Encode(nil, rec) }

// runWithData runs the store writer (through the spool when there is
// one) and the publisher, then fn (the collectors) and the gap filler
// under ctx. When ctx ends, fn returns first (its collectors stop handing
// records on), and only then are the writer and the publisher told to
// drain and flush: nothing that was accepted is lost.
func (s *Service) runWithData(ctx context.Context, fn func(ctx context.Context) error) error {
	dataCtx, stopData := context.WithCancel(context.WithoutCancel(ctx))
	defer stopData()
	// SHUTDOWN_TIMEOUT counts from the moment ctx ends, for the
	// collectors' stop and the writer's drain together.
	defer context.AfterFunc(ctx, s.shutdown.begin)()
	data, _ := errgroup.WithContext(dataCtx)
	data.Go(func() error {
		if s.buffer != nil {
			// The buffer runs the writer and replays the spool.
			return s.buffer.Run(dataCtx)
		}
		return s.writer.Run(dataCtx)
	})
	if s.pub != nil {
		data.Go(func() error { return s.pub.Run(dataCtx) })
	}
	data.Go(func() error { return s.callbacks.Run(dataCtx) })
	fnErr := s.runBackfill(ctx, fn)
	s.shutdown.begin()
	stopData()
	dataErr := data.Wait()
	if errors.Is(dataErr, context.Canceled) {
		dataErr = nil
	}
	return errors.Join(fnErr, dataErr)
}

// gapRelay passes gaps on to a recorder attached after it was handed out
// (the spool is built before the gap filler); gaps reported before that
// wait, up to maxPendingGaps.
type gapRelay struct {
	log     *zap.Logger
	mu      sync.Mutex // guards to and pending
	to      collector.GapRecorder
	pending []market.Gap
}

// maxPendingGaps bounds the gaps a relay keeps while nothing is attached;
// beyond it they are logged (the restart's gap detection covers them).
const maxPendingGaps = 10000

// RecordGap implements spool.GapRecorder.
func (r *gapRelay) RecordGap(g market.Gap) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.to != nil {
		r.to.RecordGap(g)
		return
	}
	if len(r.pending) >= maxPendingGaps {
		r.log.Error("gap not recorded: no gap filler attached", zap.Stringer("gap", g))
		return
	}
	r.pending = append(r.pending, g)
}

// attach sends the waiting gaps, then every later one, to to.
func (r *gapRelay) attach(to collector.GapRecorder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.to = to
	for _, g := range r.pending {
		to.RecordGap(g)
	}
	r.pending = nil
}

// Components reports the live feed's, the spool's, the backfill's and
// the store's health, as GET /api/status shows them. Error texts come
// from the components, which redact passwords.
func (s *Service) Components() map[string]any {
	out := map[string]any{}
	redis := map[string]any{"enabled": s.pub != nil}
	if s.pub != nil {
		st := s.pub.Status()
		redis["state"] = st.State
		redis["connected"] = st.Connected
		redis["since"] = st.Since
		redis["published"] = st.Published
		redis["dropped"] = st.Dropped
		redis["pending"] = st.Pending
		redis["reconnects"] = st.Reconnects
		if st.LastError != "" {
			redis["last_error"] = st.LastError
			redis["last_error_time"] = st.LastErrorTime
		}
	}
	out["redis"] = redis
	ws := s.writer.Stats()
	out["spool"] = s.spoolStatus()
	out["backfill"] = s.backfillStatus()
	out["callbacks"] = s.callbacks.Stats()
	out["store"] = map[string]any{
		"queue_depth":     ws.QueueDepth,
		"tables":          ws.Tables,
		"rejects_stored":  ws.RejectsStored,
		"rejects_dropped": ws.RejectsDropped,
	}
	return out
}

// spoolStatus reports the durable spool for GET /api/status.
func (s *Service) spoolStatus() map[string]any {
	if s.buffer == nil {
		return map[string]any{"enabled": false}
	}
	st := s.buffer.Stats()
	return map[string]any{
		"enabled": true, "state": st.State, "bytes": st.Bytes, "segments": st.Segments, "max_bytes": st.MaxBytes,
		"spooled": st.Spooled, "appended": st.Appended, "replayed": st.Replayed, "corrupt": st.Corrupt,
		"dropped": st.Dropped, "gaps": st.Gaps, "torn_tails": st.TornTails, "unreadable_segments": st.Unreadable, "write_lost": st.WriteLost,
		"corrupt_gaps": st.CorruptGaps, "replay_rejected": st.ReplayRejected,
	}
}
