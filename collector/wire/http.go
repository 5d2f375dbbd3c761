package wire

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Get makes one GET request for JSON and reads at most maxBody bytes of
// the answer, whatever its status: the caller maps the status and body to
// the exchange's errors. It returns an error for a request that cannot be
// built or sent, a body that cannot be read, and a body larger than
// maxBody.
func Get(ctx context.Context, client *http.Client, rawURL string, maxBody int64) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(body)) > maxBody {
		return nil, nil, fmt.Errorf("response larger than %d bytes", maxBody)
	}
	return resp, body, nil
}
