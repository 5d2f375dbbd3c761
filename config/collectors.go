package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"marketetl/market"
	"marketetl/spec"
)

// collectorsFile is the YAML file's shape.
type collectorsFile struct {
	Collectors []spec.Collector `yaml:"collectors"`
}

// LoadCollectors reads the YAML file of collectors at path. Unknown keys,
// unknown exchanges, malformed symbols or timeframes and duplicate names are
// refused with the file, the line and what is wrong.
func LoadCollectors(path string) ([]spec.Collector, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read collectors file (ETL_CONFIG): %w", err)
	}
	return ParseCollectors(path, data)
}

// ParseCollectors parses the YAML of collectors; name is used in errors.
func ParseCollectors(name string, data []byte) ([]spec.Collector, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f collectorsFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty file: want a top-level 'collectors:' list", name)
		}
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	// A second pass over the node tree gives each collector's line.
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	lines := itemLines(&root)
	var errs []error
	names := map[string]int{}
	for i := range f.Collectors {
		s := &f.Collectors[i]
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		normalise(s)
		if err := s.Validate(); err != nil {
			for _, e := range splitJoined(err) {
				errs = append(errs, fmt.Errorf("%s:%d: collector %q: %v", name, line, s.Name, e))
			}
		}
		if prev, dup := names[s.Name]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: collector %q: name already used on line %d", name, line, s.Name, prev))
		}
		names[s.Name] = line
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f.Collectors, nil
}

// normalise upper-cases symbols and lower-cases the exchange, so that
// btc-usdt and OKX are accepted.
func normalise(s *spec.Collector) {
	s.Exchange = market.Exchange(strings.ToLower(strings.TrimSpace(string(s.Exchange))))
	for i, sym := range s.Symbols {
		s.Symbols[i] = market.Symbol(strings.ToUpper(strings.TrimSpace(string(sym))))
	}
}

// itemLines returns the line of each item of the top-level collectors list.
func itemLines(root *yaml.Node) []int {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	m := root.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "collectors" && m.Content[i+1].Kind == yaml.SequenceNode {
			var out []int
			for _, item := range m.Content[i+1].Content {
				out = append(out, item.Line)
			}
			return out
		}
	}
	return nil
}

func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
