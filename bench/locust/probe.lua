-- wrk script of bench/load.sh "login": the probe, GET /api/v1/users/me with
-- one access token (LOAD_TOKEN), each connection pausing LOAD_DELAY_MS
-- before each request, so that the probe's rate is fixed (connections /
-- pause) and its latency is the server's, not a queue of its own.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("LOAD_TOKEN")
local pause = tonumber(os.getenv("LOAD_DELAY_MS") or "16")
function delay() return pause end
function done(summary, latency, requests)
  io.write(string.format("p95: %.3f\n", latency:percentile(95) / 1000))
end
