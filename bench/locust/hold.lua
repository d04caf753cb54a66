-- wrk script of bench/load.sh "hold" and the background load of "refresh":
-- authenticated GETs over many users, paced.
--
-- Environment: LOAD_TOKENS (file, one line per user: "access refresh username
-- task_id"), LOAD_WRK_THREADS (wrk -t, to split the users between threads),
-- LOAD_DELAY_MS (mean pause of each connection before each request; the
-- rate is connections / (pause + latency); fractional values alternate
-- between the two whole milliseconds around them).
--
-- Mix, each request for a user taken in turn: 35% GET /api/v1/tasks?limit=20,
-- 25% GET /api/v1/users/me, 20% GET /api/v1/profile, 20% GET
-- /api/v1/tasks/{id} (one of the user's tasks). done() prints one line
-- "status: 200=n 503=n ..." with every status seen (all threads).
local file = os.getenv("LOAD_TOKENS")
local nthreads = tonumber(os.getenv("LOAD_WRK_THREADS") or "1")
local delay_ms = tonumber(os.getenv("LOAD_DELAY_MS") or "0")
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local users, next_user = {}, 1
counts = {} -- global: done() reads it with thread:get
local base, frac = math.floor(delay_ms), delay_ms - math.floor(delay_ms)

function init(args)
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == tid then
      local tok, _, _, task = line:match("^(%S+) (%S+) (%S+) (%S+)$")
      users[#users + 1] = {auth = "Bearer " .. tok, task = task}
    end
    i = i + 1
  end
  math.randomseed(7919 + tid)
end

function delay()
  if frac > 0 and math.random() < frac then return base + 1 end
  return base
end

function request()
  local u = users[next_user]
  next_user = next_user % #users + 1
  local h = {["Authorization"] = u.auth}
  local r = math.random(100)
  if r <= 35 then
    return wrk.format("GET", "/api/v1/tasks?limit=20", h)
  elseif r <= 60 then
    return wrk.format("GET", "/api/v1/users/me", h)
  elseif r <= 80 then
    return wrk.format("GET", "/api/v1/profile", h)
  end
  return wrk.format("GET", "/api/v1/tasks/" .. u.task, h)
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do all[k] = (all[k] or 0) + v end
  end
  local keys = {}
  for k in pairs(all) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. all[k] end
  io.write("status: " .. table.concat(parts, " ") .. "\n")
  io.write(string.format("p95: %.3f\n", latency:percentile(95) / 1000))
end
