-- wrk script for bench/run.py. POSTs the JSON in $BENCH_BODY; in "distinct" mode every
-- request replaces __N__ in it with a number unique to this run, so no answer is cached.
-- Every request opens a new connection (gunicorn's sync workers close them anyway, and
-- it is MLflow's better mode: its uvicorn workers never set TCP_NODELAY).
local mode = os.getenv("BENCH_MODE") or "fixed"
local token = os.getenv("BENCH_TOKEN") or ""
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Connection"] = "close"
if token ~= "" then wrk.headers["Authorization"] = "Token " .. token end

local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

local counter = 0
function request()
  if mode ~= "distinct" then
    return wrk.format()
  end
  counter = counter + 1
  local n = (tid or 0) * 100000000 + counter + (tonumber(os.getenv("BENCH_OFFSET")) or 0)
  local body = string.gsub(wrk.body, "__N__", tostring(n))
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
