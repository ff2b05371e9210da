-- Pool-wide politeness.  Every host has one hash (host:H) shared by all
-- workers and all jobs:
--   leased       fetches of the host in flight (tasks leased, anywhere)
--   limit/delay  the strictest host_concurrency/host_delay of the jobs
--                that have unsettled pages on the host (host:H:load)
--   crawl_delay  robots.txt's Crawl-delay, already capped
--   lease_next   earliest time the dispatcher may lease the next task
--   start_next   earliest time a worker may start the next fetch (the
--                reservation made when a fetch really starts)
--   robots ...   see robots.lua
-- A host is in the `ready` zset, scored by the time it may next be leased,
-- exactly when it has queued work and is not at its limit or waiting for
-- its robots.txt; `reschedule` is the one place that decides it.

-- Seconds between two fetch starts on the host.
local function pace(host)
  local v = redis.call('HMGET', host_key(host), 'delay', 'crawl_delay')
  return math.max(number(v[1], 0), number(v[2], 0))
end

-- The strictest limits of the jobs on the host; run when that set changes.
local function host_limits(host)
  local limit, delay = nil, 0
  for _, job in ipairs(redis.call('HKEYS', host_key(host, 'load'))) do
    local v = redis.call('HMGET', key(job), 'host_concurrency', 'host_delay')
    if v[1] then
      limit = math.min(limit or math.huge, tonumber(v[1]))
      delay = math.max(delay, number(v[2], 0))
    end
  end
  if limit then
    redis.call('HSET', host_key(host), 'limit', limit, 'delay', delay)
  end
end

local function reschedule(host)
  if redis.call('LLEN', host_key(host, 'jobs')) == 0 then
    redis.call('ZREM', P .. 'ready', host)
    return
  end
  local v = redis.call('HMGET', host_key(host), 'leased', 'limit', 'lease_next',
                       'start_next', 'robots', 'robots_until')
  if v[5] == 'duty' or number(v[1], 0) >= number(v[2], 1) then
    redis.call('ZREM', P .. 'ready', host)
    return
  end
  local at = math.max(number(v[3], 0), number(v[4], 0))
  if v[5] == 'wait' then
    at = math.max(at, number(v[6], 0))
  end
  redis.call('ZADD', P .. 'ready', at, host)
end

-- A job has `count` more unsettled pages on the host (queued, leased or
-- waiting for a retry).
local function add_load(job, host, count)
  if redis.call('HINCRBY', host_key(host, 'load'), job, count) == count then
    redis.call('SADD', key(job, 'hosts'), host)
    redis.call('PERSIST', host_key(host))
    host_limits(host)
  end
end

local function drop_load(job, host)
  if redis.call('HINCRBY', host_key(host, 'load'), job, -1) <= 0 then
    redis.call('HDEL', host_key(host, 'load'), job)
    redis.call('SREM', key(job, 'hosts'), host)
    host_limits(host)
  end
end

-- Queue an entry of a job on its host; `front` for a task coming back.
-- The caller reschedules the host.
local function enqueue(job, host, entry, front)
  local length = redis.call(front and 'LPUSH' or 'RPUSH', frontier(job, host), entry)
  if length == 1 then
    redis.call('RPUSH', host_key(host, 'jobs'), job)
  end
end

-- A job's queue on a host is gone (the job ended).
local function forget_queue(job, host)
  redis.call('DEL', frontier(job, host))
  redis.call('LREM', host_key(host, 'jobs'), 0, job)
end

-- Whether this push of a task still holds its lease.  The token numbers
-- the pushes, so a stale copy of a task (from a frozen worker's buffers,
-- or reclaimed and pushed again since) never acts on the current lease.
local function holds(member, token)
  return redis.call('HGET', P .. 'lease-token', member) == token
end

-- A lease ends: it is no longer anyone's, and the host has a fetch less in
-- flight.  Returns true when it was held.
local function drop_lease(member)
  redis.call('HDEL', P .. 'lease-owner', member)
  redis.call('HDEL', P .. 'lease-token', member)
  if redis.call('ZREM', P .. 'leases', member) == 0 then
    return false
  end
  local _, _, url = split_member(member)
  local host = host_of(url)
  local h = host_key(host)
  if redis.call('HINCRBY', h, 'leased', -1) <= 0 then
    redis.call('HSET', h, 'leased', 0)
    if redis.call('LLEN', host_key(host, 'jobs')) == 0 then
      redis.call('EXPIRE', h, 86400)
    end
  end
  if redis.call('HGET', h, 'duty') == member then
    -- Whoever was to fetch robots.txt is gone: the next task fetches it.
    redis.call('HDEL', h, 'robots', 'duty')
  end
  reschedule(host)
  return true
end

-- Give a task back to Redis: to the front of its queue, or (with `due`)
-- to the delayed set until then.
local function put_back(member, due)
  local job, depth, url = split_member(member)
  if due then
    redis.call('ZADD', P .. 'delayed', due, member)
    return
  end
  local host = host_of(url)
  enqueue(job, host, depth .. ' ' .. url, true)
  reschedule(host)
end

-- A reservation is made a round trip before the request reaches the site,
-- and round trips vary by milliseconds: the next start waits START_MARGIN
-- (common/keys.py, set by common/scripts.py) more than the delay, so that
-- the site sees at least the delay.
-- Reserve the start of a fetch on a host with a delay: nil when it may
-- start now (the next one then waits the delay from now), else the time
-- it may.
local function reserve_start(host, now)
  local h = host_key(host)
  local due = number(redis.call('HGET', h, 'start_next'), 0)
  if now < due then
    return due
  end
  redis.call('HSET', h, 'start_next', now + pace(host) + START_MARGIN)
  return nil
end

-- What a worker must do about robots.txt for a job's task on a host: the
-- host's known answer (kept while someone refreshes it), or 'fetch'.
local function robots_for(job, host, member)
  if redis.call('HGET', key(job), 'robots') ~= '1' then
    return ''
  end
  local v = redis.call('HMGET', host_key(host), 'robots', 'duty', 'robots_answer')
  if v[1] == 'duty' and v[2] == member then
    return 'fetch'
  end
  if v[3] then
    return v[3]
  end
  if v[1] ~= 'duty' then
    -- Not known (a duty lost since this task was leased): fetch it now.
    redis.call('HSET', host_key(host), 'robots', 'duty', 'duty', member)
  end
  return 'fetch'
end
