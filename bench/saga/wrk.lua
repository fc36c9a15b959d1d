-- wrk script of `make bench-saga`'s closed-loop CPU comparisons (bench/saga/closed.py).
-- Usage: wrk ... -s bench/saga/wrk.lua <url> -- <body file | GET> [<tokens file | -> [<limit>]]
-- With a body file every request POSTs it; with GET, requests are GETs of the URL. With a tokens
-- file (one bearer token a line) requests carry the tokens in turn, and POSTs a fresh
-- Idempotency-Key each (unique across threads and runs). With a limit, the thread stops after
-- that many answers (run it with -t1), so a POST comparison starts a bounded amount of saga work.

local body, tokens, prefix, n, answered, limit = nil, {}, nil, 0, 0, 0

local function read(path)
  local f = assert(io.open(path, "r"))
  local text = f:read("*a")
  f:close()
  return text
end

function init(args)
  if args[1] ~= "GET" then body = read(args[1]) end
  if args[2] and args[2] ~= "-" then
    for line in read(args[2]):gmatch("[^\n]+") do tokens[#tokens + 1] = line end
  end
  limit = tonumber(args[3] or "0")
  -- Only then a Lua call per answer: wrk asks for bodies when `response` exists.
  if limit > 0 then
    response = function()
      answered = answered + 1
      if answered >= limit then wrk.thread:stop() end
    end
  end
  -- wrk gives each thread its own Lua state: a random prefix keeps their keys apart.
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16))
  prefix = string.format("bench-%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

function request()
  n = n + 1
  local headers = {}
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1] end
  if body == nil then return wrk.format("GET", nil, headers, nil) end
  headers["Content-Type"] = "application/json"
  if #tokens > 0 then headers["Idempotency-Key"] = prefix .. "-" .. n end
  return wrk.format("POST", nil, headers, body)
end

-- One machine-readable line for closed.py: counts, and latency percentiles in microseconds.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, '
      .. '"p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
