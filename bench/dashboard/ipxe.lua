-- wrk script for bench/dashboard/run: each request is GET /v1/ipxe?mac=<mac> for a MAC drawn
-- at random from a list of installed nodes (provd answers those from memory, under the
-- daemon's shared lock: "boot from disk").
--
-- usage: wrk ... -s ipxe.lua http://127.0.0.1:PORT -- MACS_FILE [SEED [DELAY_MS]]
--
-- DELAY_MS > 0: each connection waits that long after an answer before its next request (a
-- fleet of netbooting machines, not a client flooding the server: the CPUs are not saturated
-- by the load itself, so latencies show waiting inside the server).

local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
end

local reqs = {}
local n = 0
local pause = 0

function init(args)
   local file = args[1]
   if not file then
      error("ipxe.lua: pass the MAC list file after --")
   end
   local seed = tonumber(args[2] or "1") or 1
   pause = tonumber(args[3] or "0") or 0
   for line in io.lines(file) do
      if line ~= "" then
         n = n + 1
         reqs[n] = wrk.format("GET", "/v1/ipxe?mac=" .. line)
      end
   end
   if n == 0 then
      error("ipxe.lua: no MACs in " .. file)
   end
   math.randomseed(seed * 7919 + (tid or 0))
end

function request()
   return reqs[math.random(n)]
end

function delay()
   return pause
end

-- One machine-readable line, parsed by bench/dashboard/run.
function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "BENCH requests=%d rps=%.1f lat_p50_us=%d lat_p99_us=%d lat_p999_us=%d lat_max_us=%d errors=%d\n",
      summary.requests, summary.requests / secs, latency:percentile(50), latency:percentile(99),
      latency:percentile(99.9), latency.max, e.connect + e.read + e.write + e.status + e.timeout))
end
