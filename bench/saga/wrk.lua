-- wrk script of `make bench-saga`'s closed-loop comparison.
-- Usage: wrk ... -s bench/saga/wrk.lua <url> -- <body file> [<tokens file>]
-- Every request POSTs the body; with a tokens file (one bearer token a line), each connection's
-- requests carry a token in turn and a fresh Idempotency-Key (unique across threads and runs).

local body, tokens, prefix, n = nil, {}, nil, 0

local function read(path)
  local f = assert(io.open(path, "r"))
  local text = f:read("*a")
  f:close()
  return text
end

function init(args)
  body = read(args[1])
  if args[2] then
    for line in read(args[2]):gmatch("[^\n]+") do tokens[#tokens + 1] = line end
  end
  -- wrk gives each thread its own Lua state: a random prefix keeps their keys apart.
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16))
  prefix = string.format("bench-%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

function request()
  n = n + 1
  local headers = { ["Content-Type"] = "application/json" }
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1]
    headers["Idempotency-Key"] = prefix .. "-" .. n
  end
  return wrk.format("POST", nil, headers, body)
end

-- One machine-readable line for run.py: counts, and latency percentiles in microseconds.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, '
      .. '"p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
