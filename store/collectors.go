package store

import (
	"context"
	"encoding/json"
	"fmt"
	"marketetl/spec"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Registry keeps the collectors' configuration and enabled state in the
// collectors table, so that runtime changes made through the admin API
// survive a restart of the service.
type Registry struct {
	pool *pgxpool.Pool
}

// NewRegistry returns a Registry reading and writing through pool.
func NewRegistry(pool *pgxpool.Pool) *Registry { return &Registry{pool: pool} }

// Collectors returns every stored collector, ordered by name, each with
// Enabled set.
func (r *Registry) Collectors(ctx context.Context) ([]spec.Collector, error) {
	rows, err := r.pool.Query(ctx, `SELECT name, spec, enabled FROM collectors ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("read collectors: %w", err)
	}
	specs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (spec.Collector, error) {
		var (
			name    string
			raw     []byte
			enabled bool
		)
		if err := row.Scan(&name, &raw, &enabled); err != nil {
			return spec.Collector{}, err
		}
		var s spec.Collector
		if err := json.Unmarshal(raw, &s); err != nil {
			return spec.Collector{}, fmt.Errorf("collector %s: decode spec: %w", name, err)
		}
		s.Name, s.Enabled = name, &enabled
		return s, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read collectors: %w", err)
	}
	return specs, nil
}

// PutCollector inserts spec or replaces the stored collector of the same
// name. The spec column holds spec in the YAML file's shape, as JSON,
// without enabled, which has its own column; a nil spec.Enabled is stored
// as enabled.
func (r *Registry) PutCollector(ctx context.Context, spec spec.Collector) error {
	enabled := spec.IsEnabled()
	body := spec
	body.Enabled = nil
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("store collector %s: encode spec: %w", spec.Name, err)
	}
	_, err = r.pool.Exec(ctx, `
		INSERT INTO collectors (name, spec, enabled)
		VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE
		SET spec = EXCLUDED.spec, enabled = EXCLUDED.enabled, updated_at = now()
		WHERE collectors.spec IS DISTINCT FROM EXCLUDED.spec OR collectors.enabled IS DISTINCT FROM EXCLUDED.enabled`,
		spec.Name, string(raw), enabled)
	if err != nil {
		return fmt.Errorf("store collector %s: %w", spec.Name, err)
	}
	return nil
}

// DeleteCollector deletes the named collector; deleting one that is not
// stored is not an error.
func (r *Registry) DeleteCollector(ctx context.Context, name string) error {
	if _, err := r.pool.Exec(ctx, `DELETE FROM collectors WHERE name = $1`, name); err != nil {
		return fmt.Errorf("delete collector %s: %w", name, err)
	}
	return nil
}
