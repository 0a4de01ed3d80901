-- wrk script for bench/storm/run: installer callbacks.lua with pauses.  Each connection waits a
-- random 0.5-1.5 x PAUSE_MS before each callback (wrk's delay(); wrk starts a request's latency
-- clock when it writes the request, after the pause): installers that call back now and then,
-- an offered load of about connections * 1000 / PAUSE_MS callbacks per second.
--
-- usage: wrk -tT ... -s callbacks-paced.lua http://127.0.0.1:PORT -- TOKENS_FILE T PAUSE_MS

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "callbacks.lua")

function delay()
   return math.floor(pause_ms * (0.5 + math.random()))
end
