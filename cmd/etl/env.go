package main

import (
	"fmt"
	"io"

	"marketetl/config"
)

// envUsage is etl env's help.
const envUsage = `Usage: etl env [--markdown]

Prints the environment template (env.template): every variable with its
default and meaning. --markdown prints the same as README.md's table.
`

// cmdEnv prints env.template, or with --markdown the README's table;
// --help (or -h) prints its help.
func cmdEnv(w io.Writer, args []string) error {
	switch {
	case len(args) == 1 && isHelp(args[0]):
		_, err := io.WriteString(w, envUsage)
		return err
	case len(args) == 0:
		return config.WriteTemplate(w)
	case len(args) == 1 && args[0] == "--markdown":
		return config.WriteMarkdown(w)
	}
	return fmt.Errorf("%w: etl env [--markdown]", errUsage)
}
