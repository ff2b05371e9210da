-- Take up to `want` tasks off the frontiers, one job at a time in turn so
-- that a small job is not stuck behind a huge one, and lease each before it
-- is pushed.  Never leases more than the live workers' declared slots.
-- ARGV: prefix, now, lease_seconds, want
local now, ttl, want = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local capacity = 0
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', P .. 'workers', now, '+inf')) do
  capacity = capacity + tonumber(redis.call('HGET', P .. 'worker-slots', worker) or 0)
end
local room = capacity - redis.call('ZCARD', P .. 'leases')
if room < want then
  want = room
end
local tasks, misses = {}, 0
local jobs = redis.call('LLEN', P .. 'active')
while #tasks < want and misses < jobs do
  local job = redis.call('LMOVE', P .. 'active', P .. 'active', 'LEFT', 'RIGHT')
  local entry = redis.call('LPOP', key(job, 'frontier'))
  if entry then
    misses = 0
    local space = string.find(entry, ' ', 1, true)
    local depth, url = string.sub(entry, 1, space - 1), string.sub(entry, space + 1)
    if redis.call('HGET', key(job), 'status') == 'queued' then
      redis.call('HSET', key(job), 'status', 'running', 'started_at', ARGV[2])
    end
    redis.call('ZADD', P .. 'leases', now + ttl, lease_member(job, depth, url))
    redis.call('HINCRBY', key(job, 'pushes'), url, 1)
    local attempt = tonumber(redis.call('HGET', key(job, 'attempts'), url) or 0) + 1
    tasks[#tasks + 1] = cjson.encode({job = job, url = url, depth = tonumber(depth), attempt = attempt})
  else
    misses = misses + 1
  end
end
return tasks
