#!lua name=pace
-- pace's Redis function library: rate limits, login backoff, instance
-- registration and per-user cache versions. Loaded with FUNCTION LOAD
-- REPLACE on every connect. Times come from Redis's clock (TIME), in
-- milliseconds, so every instance sees one clock; TIME before a write is
-- allowed because Redis 7 replicates a function's effects, not its call.
-- Arguments arrive as strings; every reply is an integer or an array of
-- integers. The keys are the caller's (pace:<kind>:<hash>).

local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function now_us()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- The argument i as an integer >= min, or an error reply naming it.
local function int_arg(args, i, min, name)
    local v = tonumber(args[i])
    if v == nil or v ~= math.floor(v) or v < min then
        error(redis.error_reply('ERR pace: ' .. name .. ' must be an integer >= ' .. min))
    end
    return v
end

-- GCRA on KEY, which holds the theoretical arrival time (TAT, ms): limit
-- attempts in a burst, refilled evenly over window ms. count false is a
-- dry run that changes nothing. Returns {limited, remaining, reset_ms,
-- retry_ms}; remaining is after this attempt when counted, before the
-- next one when dry.
local function gcra(key, limit, window, count, now)
    -- A limit above window (ms) would make the interval 0.
    local T = math.max(math.floor(window / limit), 1)
    local tat = math.max(tonumber(redis.call('GET', key)) or now, now)
    local nxt = tat + T
    if nxt - now > window then
        return {1, 0, tat - now, math.max(nxt - window - now, 1)}
    end
    if count then
        -- nxt > now: the key is never created already expired.
        redis.call('SET', key, nxt, 'PXAT', nxt)
        return {0, math.floor((window - (nxt - now)) / T), nxt - now, 0}
    end
    return {0, math.floor((window - (tat - now)) / T), tat - now, 0}
end

-- FCALL pace_limit 1 KEY limit window_ms count
-- One attempt against a GCRA bucket (count 1), or a look at it (count 0).
-- Replies {limited 0|1, remaining, reset_ms, retry_ms}: reset_ms is when
-- the bucket is full again, retry_ms (when limited) when the next attempt
-- would pass.
local function pace_limit(keys, args)
    local limit = int_arg(args, 1, 1, 'limit')
    local window = int_arg(args, 2, 1, 'window_ms')
    local count = int_arg(args, 3, 0, 'count')
    return gcra(keys[1], limit, window, count ~= 0, now_ms())
end

-- FCALL pace_login_check 2 PAIRKEY ACCTKEY failures_threshold acct_limit
--       window_ms backoff_max_ms
-- Before a password is checked. PAIRKEY is the (account, ip) pair's hash
-- {n = failures, t = last failure ms}; past failures_threshold failures
-- each further one doubles the wait from 1 s up to backoff_max_ms. ACCTKEY
-- is the GCRA bucket of the account's failures from anywhere; it refuses
-- only a pair that has failed too. Replies {refused 0|1, remaining
-- attempts before backoff, retry_ms}.
local function pace_login_check(keys, args)
    local threshold = int_arg(args, 1, 0, 'failures_threshold')
    local acct_limit = int_arg(args, 2, 0, 'acct_limit')
    local window = int_arg(args, 3, 1, 'window_ms')
    local backoff_max = int_arg(args, 4, 0, 'backoff_max_ms')
    local now = now_ms()
    local pair = redis.call('HMGET', keys[1], 'n', 't')
    local failures = tonumber(pair[1]) or 0
    local last = tonumber(pair[2]) or 0
    local remaining = math.max(threshold - failures, 0)
    if failures >= threshold then
        local shift = failures - threshold
        local delay = backoff_max
        if shift < 20 then
            delay = math.min(1000 * 2 ^ shift, backoff_max)
        end
        if now < last + delay then
            return {1, 0, last + delay - now}
        end
    end
    if failures > 0 and acct_limit > 0 and redis.call('EXISTS', keys[2]) == 1 then
        local r = gcra(keys[2], acct_limit, window, false, now)
        if r[1] == 1 then
            return {1, remaining, r[4]}
        end
    end
    return {0, remaining, 0}
end

-- FCALL pace_login_result 2 PAIRKEY ACCTKEY ok acct_limit window_ms memory_ms
-- After the check: success forgets the pair's failures; a failure counts
-- in the pair (remembered memory_ms) and in the account's bucket, whose
-- TAT never runs more than two windows ahead. Replies 1.
local function pace_login_result(keys, args)
    local ok = int_arg(args, 1, 0, 'ok')
    local acct_limit = int_arg(args, 2, 0, 'acct_limit')
    local window = int_arg(args, 3, 1, 'window_ms')
    local memory = int_arg(args, 4, 1, 'memory_ms')
    if ok ~= 0 then
        redis.call('DEL', keys[1])
        return 1
    end
    local now = now_ms()
    redis.call('HINCRBY', keys[1], 'n', 1)
    redis.call('HSET', keys[1], 't', now)
    redis.call('PEXPIRE', keys[1], memory)
    if acct_limit > 0 then
        local T = math.max(math.floor(window / acct_limit), 1)
        local tat = math.max(tonumber(redis.call('GET', keys[2])) or now, now) + T
        tat = math.min(tat, now + 2 * window)
        redis.call('SET', keys[2], tat, 'PXAT', tat)
    end
    return 1
end

-- FCALL pace_heartbeat 1 pace:instances instance_id ttl_ms
-- Marks an instance alive now and drops those silent for ttl_ms. Replies
-- the number of live instances.
local function pace_heartbeat(keys, args)
    local ttl = int_arg(args, 2, 1, 'ttl_ms')
    local now = now_ms()
    redis.call('ZADD', keys[1], now, args[1])
    redis.call('ZREMRANGEBYSCORE', keys[1], '-inf', now - ttl)
    redis.call('PEXPIRE', keys[1], ttl * 10)
    return redis.call('ZCARD', keys[1])
end

-- FCALL pace_leave 1 pace:instances instance_id
-- An instance that stops says so. Replies 1.
local function pace_leave(keys, args)
    redis.call('ZREM', keys[1], args[1])
    return 1
end

-- FCALL pace_version 1 VKEY ttl_ms
-- A user's cache version: the stored one, or the clock in microseconds
-- when there is none (first use, eviction, restart), so a version never
-- repeats. Every read extends the key's life to ttl_ms. Replies it.
local function pace_version(keys, args)
    local ttl = int_arg(args, 1, 1, 'ttl_ms')
    local v = tonumber(redis.call('GET', keys[1]))
    if v == nil then
        v = now_us()
        redis.call('SET', keys[1], v, 'PX', ttl)
    else
        redis.call('PEXPIRE', keys[1], ttl)
    end
    if keys[2] ~= nil then
        -- The deployment's cache epoch: INCR'd to invalidate every user at once.
        return {v, tonumber(redis.call('GET', keys[2])) or 0}
    end
    return v
end

-- FCALL pace_bump 1 VKEY ttl_ms
-- After a write: a version above the stored one and not below the clock
-- in microseconds. Replies it.
local function pace_bump(keys, args)
    local ttl = int_arg(args, 1, 1, 'ttl_ms')
    local v = math.max((tonumber(redis.call('GET', keys[1])) or 0) + 1, now_us())
    redis.call('SET', keys[1], v, 'PX', ttl)
    return v
end

redis.register_function{function_name = 'pace_limit', callback = pace_limit}
redis.register_function{function_name = 'pace_login_check', callback = pace_login_check, flags = {'no-writes'}}
redis.register_function{function_name = 'pace_login_result', callback = pace_login_result}
redis.register_function{function_name = 'pace_heartbeat', callback = pace_heartbeat}
redis.register_function{function_name = 'pace_leave', callback = pace_leave}
redis.register_function{function_name = 'pace_version', callback = pace_version}
redis.register_function{function_name = 'pace_bump', callback = pace_bump}
