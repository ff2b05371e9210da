-- Shared helpers, prepended to every script (see common/scripts.py).
-- ARGV[1] is always the key prefix; keys are built here rather than passed
-- in KEYS because a finish step touches keys it only learns while running
-- (new links, images).  The store is a single Redis, not a cluster.
local P = ARGV[1]

local function key(job, part)
  if part then
    return P .. 'job:' .. job .. ':' .. part
  end
  return P .. 'job:' .. job
end

local function is_live(status)
  return status == 'queued' or status == 'running'
end

local function lease_member(job, depth, url)
  return job .. ' ' .. depth .. ' ' .. url
end

-- A lease ends: it is no longer anyone's.  Returns 1 when it was held.
local function drop_lease(member)
  redis.call('HDEL', P .. 'lease-owner', member)
  return redis.call('ZREM', P .. 'leases', member)
end

-- Forget what only an unfinished job needs; the results stay for the
-- job's time to live (JOB_TTL_SECONDS; 0 keeps them).
local function drop_transient(job)
  redis.call('DEL', key(job, 'frontier'), key(job, 'seen'),
             key(job, 'attempts'), key(job, 'pushes'))
  redis.call('LREM', P .. 'active', 0, job)
  local ttl = tonumber(redis.call('HGET', key(job), 'ttl') or 0)
  if ttl > 0 then
    for _, part in ipairs({'page', 'pages', 'image', 'images'}) do
      redis.call('EXPIRE', key(job, part), ttl)
    end
    redis.call('EXPIRE', key(job), ttl)
  end
end

-- Record a page once.  Returns false when it was recorded before, which is
-- what makes a second delivery of the same task harmless.
local function record_page(job, url, page_json, outcome)
  if redis.call('HSETNX', key(job, 'page'), url, page_json) == 0 then
    return false
  end
  redis.call('RPUSH', key(job, 'pages'), url)
  redis.call('HINCRBY', key(job), 'pages_' .. outcome, 1)
  return true
end

-- One admitted page is settled; the last one completes the job, in the
-- same atomic step as the page itself.
local function settle(job, now)
  local pending = redis.call('HINCRBY', key(job), 'pending', -1)
  if pending <= 0 then
    redis.call('HSET', key(job), 'status', 'completed', 'finished_at', now)
    drop_transient(job)
  end
end
