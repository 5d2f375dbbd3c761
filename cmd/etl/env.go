package main

import (
	"io"

	"marketetl/config"
)

func cmdEnv(w io.Writer) error { return config.WriteTemplate(w) }
