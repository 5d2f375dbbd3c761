//go:build !unix

package spool

import "os"

// lockDir does nothing where flock is not available: one process per
// spool directory is then up to the operator.
func lockDir(string) (*os.File, error) { return nil, nil }
