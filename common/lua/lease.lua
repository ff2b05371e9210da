-- Hand out up to `want` tasks, host by host, within every host's limits.
-- Retries that came due go back on their queues first.  Hosts are served
-- in the order they became ready (the `ready` zset), so the tasks of a
-- busy or slow host wait here, in Redis, and cost no worker a slot; within
-- a host the jobs on it take turns.  Never leases more than the live
-- workers' declared slots.  A task is leased for `accept_seconds` only:
-- the worker that receives it renews the lease in its own name at once,
-- so a task lost on the wire comes back within that time.
-- ARGV: prefix, now, accept_seconds, want
-- Returns {next_wake, task_json...}: next_wake is when a waiting host or
-- retry is next due ('' when nothing waits on time).
local now, accept, want = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])

for _, member in ipairs(redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', P .. 'delayed', member)
  local job, _, url = split_member(member)
  if is_live(redis.call('HGET', key(job), 'status'))
      and redis.call('HEXISTS', key(job, 'page'), url) == 0 then
    put_back(member)
  end
end

local capacity = 0
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', P .. 'workers', now, '+inf')) do
  capacity = capacity + number(redis.call('HGET', P .. 'worker-slots', worker), 0)
end
want = math.min(want, capacity - redis.call('ZCARD', P .. 'leases'))

-- The next queued task of `host`, leased; nil (and the host rescheduled)
-- when the host turns out not to be ready.
local function lease_one(host)
  local h = host_key(host)
  local state = redis.call('HMGET', h, 'leased', 'limit', 'robots', 'robots_until')
  if state[3] == 'duty' or number(state[1], 0) >= number(state[2], 1) then
    redis.call('ZREM', P .. 'ready', host)
    return nil
  end
  local job = redis.call('LMOVE', host_key(host, 'jobs'), host_key(host, 'jobs'), 'LEFT', 'RIGHT')
  if not job then
    redis.call('ZREM', P .. 'ready', host)
    return nil
  end
  local entry = redis.call('LPOP', frontier(job, host))
  if redis.call('LLEN', frontier(job, host)) == 0 then
    redis.call('LREM', host_key(host, 'jobs'), -1, job)
  end
  if not entry then
    reschedule(host)
    return nil
  end
  local space = string.find(entry, ' ', 1, true)
  local depth, url = string.sub(entry, 1, space - 1), string.sub(entry, space + 1)
  local member = lease_member(job, depth, url)
  local settings = redis.call('HMGET', key(job), 'status', 'robots')
  if settings[2] == '1' and (not state[3] or number(state[4], 0) <= now) then
    -- Nobody knows the host's robots.txt (or it is stale): this task's
    -- worker fetches it, and the host's other tasks wait for the answer.
    redis.call('HSET', h, 'robots', 'duty', 'duty', member)
  end
  if settings[1] == 'queued' then
    redis.call('HSET', key(job), 'status', 'running', 'started_at', ARGV[2])
  end
  local token = redis.call('INCR', P .. 'lease-seq')
  redis.call('ZADD', P .. 'leases', now + accept, member)
  redis.call('HSET', P .. 'lease-token', member, token)
  redis.call('HINCRBY', key(job, 'pushes'), url, 1)
  if redis.call('HINCRBY', h, 'leased', 1) == 1 then
    redis.call('PERSIST', h)
  end
  redis.call('HSET', h, 'lease_next', now + pace(host))
  reschedule(host)
  local attempt = number(redis.call('HGET', key(job, 'attempts'), url), 0) + 1
  return cjson.encode({job = job, url = url, depth = tonumber(depth), attempt = attempt, lease = token})
end

local tasks = {}
while #tasks < want do
  local hosts = redis.call('ZRANGEBYSCORE', P .. 'ready', '-inf', now, 'LIMIT', 0, want - #tasks)
  if #hosts == 0 then break end
  for _, host in ipairs(hosts) do
    local task = lease_one(host)
    if task then tasks[#tasks + 1] = task end
    if #tasks >= want then break end
  end
end

local wake
for _, set in ipairs({'ready', 'delayed'}) do
  local first = redis.call('ZRANGE', P .. set, 0, 0, 'WITHSCORES')
  if first[2] and tonumber(first[2]) > now and (not wake or tonumber(first[2]) < wake) then
    wake = tonumber(first[2])
  end
end
return {wake and tostring(wake) or '', unpack(tasks)}
