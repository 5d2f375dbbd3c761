package main

import (
	"fmt"
	"io"

	"marketetl/config"
)

// cmdEnv prints env.template, or with --markdown the README's table.
func cmdEnv(w io.Writer, args []string) error {
	switch {
	case len(args) == 0:
		return config.WriteTemplate(w)
	case len(args) == 1 && args[0] == "--markdown":
		return config.WriteMarkdown(w)
	}
	return fmt.Errorf("%w: etl env [--markdown]", errUsage)
}
