-- wrk script for bench/load.py's baseline: plain GETs, one connection each, same summary line.
wrk.headers["Connection"] = "close"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BASE_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
