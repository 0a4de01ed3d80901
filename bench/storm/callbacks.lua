-- wrk script for bench/storm/run: installer callbacks.  Each request is POST /v1/install/events
-- with the install token of the next node of a list (each thread takes every T-th token) and a
-- phase that alternates, per pass over the list, between "partitioning" and "installing": every
-- event changes the node's phase, so every one is a transition (a write).
--
-- A closed loop: each connection sends its next callback the moment one is answered.
-- callbacks-paced.lua is this script with pauses between a connection's callbacks.
--
-- SAME (the fourth argument) = 1: every callback reports "installing", so after a node's first
-- one nothing changes and nothing is written (provd answers "changed": false) — the same
-- requests through the same route, token check and write queue, without the store's writes:
-- the floor the write path is measured against.
--
-- usage: wrk -tT ... -s callbacks.lua http://127.0.0.1:PORT -- TOKENS_FILE T [PAUSE_MS [SAME]]

local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
end

local tokens = {}
local n = 0
local k = 0
local bodies = { '{"phase":"partitioning"}', '{"phase":"installing"}' }
local requests = {} -- n requests of the first phase, then n of the second
pause_ms = 0 -- callbacks-paced.lua's pause (its third argument)

function init(args)
   local file = args[1]
   if not file then
      error("callbacks.lua: pass the token list file after --")
   end
   local threads = tonumber(args[2] or "1") or 1
   pause_ms = tonumber(args[3] or "0") or 0
   if args[4] == "1" then
      bodies[1] = bodies[2]
   end
   math.randomseed(os.time() + (tid or 1))
   local i = 0
   for line in io.lines(file) do
      if line ~= "" then
         i = i + 1
         if (i - (tid or 1)) % threads == 0 then
            n = n + 1
            tokens[n] = line
         end
      end
   end
   if n == 0 then
      error("callbacks.lua: no tokens for thread " .. (tid or 1))
   end
   -- Every request this thread sends, formatted once: the load generator shares the cores
   -- with provd, and wrk.format() per request costs more than sending it.
   for j = 1, n do
      for b = 1, 2 do
         requests[(b - 1) * n + j] = wrk.format("POST", "/v1/install/events",
            { ["Authorization"] = "Bearer " .. tokens[j], ["Content-Type"] = "application/json" }, bodies[b])
      end
   end
end

function request()
   local r = requests[k % (2 * n) + 1]
   k = k + 1
   return r
end

-- One machine-readable line, parsed by bench/storm/run.
function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "BENCH requests=%d rps=%.1f lat_p50_us=%d lat_p99_us=%d lat_max_us=%d errors=%d wrapped=0\n",
      summary.requests, summary.requests / secs, latency:percentile(50), latency:percentile(99),
      latency.max, e.connect + e.read + e.write + e.status + e.timeout))
end
