-- wrk script shared by both servers: each request asks for GET /v1/boot/<mac>
-- for a MAC drawn at random from the inventory's MAC list.
--
-- usage: wrk ... -s boot.lua http://127.0.0.1:PORT -- MACS_FILE [SEED]
--
-- MACS_FILE has one lowercase colon MAC per line.  Request strings are
-- pre-built once per wrk thread so the per-request Lua cost is a table lookup
-- and the client side costs the same for every server under test.

local counter = 0
local threads = {}

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
   table.insert(threads, thread)
end

local reqs = {}
local n = 0

function init(args)
   local file = args[1] or os.getenv("BENCH_MACS")
   if not file then
      error("boot.lua: pass the MAC list file after --")
   end
   local seed = tonumber(args[2] or "1") or 1
   for line in io.lines(file) do
      if line ~= "" then
         n = n + 1
         reqs[n] = wrk.format("GET", "/v1/boot/" .. line)
      end
   end
   if n == 0 then
      error("boot.lua: no MACs in " .. file)
   end
   math.randomseed(seed * 7919 + (tid or 0))
end

function request()
   return reqs[math.random(n)]
end

-- One machine-readable line, parsed by bench/boot-api/run.
function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "BENCH requests=%d duration_s=%.3f rps=%.1f bytes=%d "
      .. "lat_mean_us=%.1f lat_p50_us=%d lat_p90_us=%d lat_p99_us=%d lat_p999_us=%d lat_max_us=%d "
      .. "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
      summary.requests, secs, summary.requests / secs, summary.bytes,
      latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
