-- wrk script for bench/load.py: single predictions over several models, one body per
-- request from a rotating set, so the run mixes cache hits with misses (each body's first
-- request misses; later ones hit until their TTL).
local token = os.getenv("LOAD_TOKEN") or ""
local file = assert(io.open(os.getenv("LOAD_BODIES"), "rb"))
local bodies = {}
for line in file:lines() do
  if #line > 0 then bodies[#bodies + 1] = line end
end
file:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token " .. token
wrk.headers["Connection"] = "close"  -- gunicorn sync workers close every connection anyway

local counter = 0
function setup(thread)
  thread:set("offset", math.random(1, #bodies))
end

function request()
  counter = counter + 1
  local body = bodies[((counter + (offset or 0)) % #bodies) + 1]
  return wrk.format(nil, "/api/v1/predictions/", nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'LOAD_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
