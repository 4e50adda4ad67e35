-- Shared by the wrk scripts: arguments, per-thread random seeds, and a JSON summary on done.
-- Arguments after `--`: <token> <rows> [phone_base]
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  table.insert(threads, thread)
end

function read_args(args)
  token = args[1] or ""
  rows = tonumber(args[2] or "1000")
  phone_base = tonumber(args[3] or "79100000000")
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  headers = {}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
