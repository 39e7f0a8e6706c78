-- wrk script for benchmarks/bench_wrk.py: counts every HTTP status and prints one JSON line.
--
-- Arguments after `--`: a path template (may contain {id}) and the largest id;
-- each request picks an id uniformly in 1..max (per-thread seeded, repeatable).
-- wrk itself counts only status >= 400 (as errors.status); 3xx would pass
-- silently, so every status is counted here and the driver treats non-2xx as errors.

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
  table.insert(threads, thread)
end

function init(args)
  template = args[1] or wrk.path
  max_id = tonumber(args[2] or "0") or 0
  counts = {}
  math.randomseed(1000 + (thread_id or 0))
end

function request()
  local path = template
  if max_id > 0 then
    path = string.gsub(template, "{id}", tostring(math.random(1, max_id)))
  end
  return wrk.format(nil, path)
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local agg = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts") or {}
    for k, v in pairs(c) do
      agg[k] = (agg[k] or 0) + v
    end
  end
  local parts = {}
  for k, v in pairs(agg) do
    table.insert(parts, string.format('"%d": %d', k, v))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "status": {%s}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
