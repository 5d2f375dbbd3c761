package service

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"marketetl/cluster"
)

// buildCluster builds the coordinator that shares the collectors with the
// other instances (ETL_CLUSTER=true): the supervisor then runs only the
// collectors this instance owns.
func (s *Service) buildCluster() error {
	id := s.cfg.InstanceID
	if id == "" {
		host, err := os.Hostname()
		if err != nil {
			host = "etl"
		}
		id = host + "-" + strconv.Itoa(os.Getpid())
	}
	metrics, err := cluster.NewMetrics(s.metrics)
	if err != nil {
		return err
	}
	started := time.Now()
	sc := cluster.SessionConfig{URL: s.cfg.DatabaseURL, InstanceID: id, StartedAt: started, Lease: s.cfg.ClusterLease,
		Log: s.log.Named("cluster")}
	dial := func(ctx context.Context) (cluster.Session, error) { return cluster.Dial(ctx, sc) }
	c, err := cluster.New(cluster.Config{
		InstanceID: id, Lease: s.cfg.ClusterLease, Heartbeat: s.cfg.ClusterHeartbeat, Rebalance: s.cfg.ClusterRebalance,
		Metrics: metrics, Log: s.log.Named("cluster"),
	}, dial, s.manager)
	if err != nil {
		return fmt.Errorf("build cluster: %w", err)
	}
	s.manager.RequireOwnership()
	s.cluster = c
	return nil
}

// Cluster returns the cluster coordinator, or nil unless ETL_CLUSTER=true.
func (s *Service) Cluster() *cluster.Coordinator { return s.cluster }

// components is Components with, in a cluster, the instances and what
// each owns, as this instance last read them.
func (s *Service) components() map[string]any {
	out := s.Components()
	if s.cluster != nil {
		out["cluster"] = s.cluster.Status()
	}
	return out
}
