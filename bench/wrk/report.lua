-- bench/wrk/report.lua: wrk's done() hook for bench/http.sh. Prints one line
--   WRK_JSON {"requests": ..., "p50_us": ..., ...}
-- after wrk's own report, for the script to parse. It defines no request() or response(), so wrk
-- keeps sending its pre-built request and does not parse response bodies: loading it costs the
-- client nothing during the run. hold.lua loads it too.
--
--   wrk -t2 -c64 -d10s --latency -s bench/wrk/report.lua http://127.0.0.1:PORT/health

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "non_2xx_3xx": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, ' ..
    '"mean_us": %.1f, "p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write,
    e.timeout, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
