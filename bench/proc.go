package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// The process's own resources, read from getrusage(RUSAGE_SELF) and
// /proc/self/status (Linux). Elsewhere the peak RSS is unknown (0) and
// resetting it does nothing.

// cpuTime returns the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS returns the process's peak resident set size in bytes since it
// started or since the last resetPeakRSS (VmHWM), or 0 when unknown.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return statusKB(b, "VmHWM:") * 1024
}

// statusKB returns the value in kB of a /proc/<pid>/status field.
func statusKB(status []byte, field string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte(field)) {
			continue
		}
		f := bytes.Fields(line[len(field):])
		if len(f) == 0 {
			return 0
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0
		}
		return n
	}
	return 0
}

// resetPeakRSS starts the peak RSS afresh from the current RSS (writing 5
// to /proc/self/clear_refs, Linux 4.0+). It reports whether it could.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// currentRSS returns the process's resident set size in bytes (VmRSS), or
// 0 when unknown.
func currentRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return statusKB(b, "VmRSS:") * 1024
}
