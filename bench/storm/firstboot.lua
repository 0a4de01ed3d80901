-- wrk script for bench/storm/run: first boots.  Each request is GET /v1/boot/<mac> for the
-- next MAC of a list that no request has asked for yet (each thread takes every T-th MAC), so
-- every answer opens an install attempt: a write.  When a thread runs out of MACs it starts
-- over (those answers write nothing) and done() says so.
--
-- usage: wrk -tT ... -s firstboot.lua http://127.0.0.1:PORT -- MACS_FILE T

local counter = 0
local threads = {}

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
   table.insert(threads, thread)
end

local macs = {}
local n = 0
local next_i = 0
local step = 1
local wrapped = 0

function init(args)
   local file = args[1]
   if not file then
      error("firstboot.lua: pass the MAC list file after --")
   end
   for line in io.lines(file) do
      if line ~= "" then
         n = n + 1
         macs[n] = line
      end
   end
   step = tonumber(args[2] or "1") or 1
   next_i = (tid or 1)
end

function request()
   if next_i > n then
      next_i = (tid or 1)
      wrapped = 1
   end
   local mac = macs[next_i]
   next_i = next_i + step
   return wrk.format("GET", "/v1/boot/" .. mac)
end

-- One machine-readable line, parsed by bench/storm/run.
function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   local w = 0
   for _, t in ipairs(threads) do
      w = w + (t:get("wrapped") or 0)
   end
   io.write(string.format(
      "BENCH requests=%d rps=%.1f lat_p50_us=%d lat_p99_us=%d lat_max_us=%d errors=%d wrapped=%d\n",
      summary.requests, summary.requests / secs, latency:percentile(50), latency:percentile(99),
      latency.max, e.connect + e.read + e.write + e.status + e.timeout, w))
end
