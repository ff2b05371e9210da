-- A worker announces it is alive and how many tasks it can hold; workers
-- that stopped announcing drop out of the dispatch capacity.
-- ARGV: prefix, worker, now, expires_at, slots
local now = tonumber(ARGV[3])
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', P .. 'workers', '-inf', now)) do
  redis.call('HDEL', P .. 'worker-slots', gone)
end
redis.call('ZREMRANGEBYSCORE', P .. 'workers', '-inf', now)
if tonumber(ARGV[5]) > 0 then
  redis.call('ZADD', P .. 'workers', ARGV[4], ARGV[2])
  redis.call('HSET', P .. 'worker-slots', ARGV[2], ARGV[5])
else
  redis.call('ZREM', P .. 'workers', ARGV[2])
  redis.call('HDEL', P .. 'worker-slots', ARGV[2])
end
return redis.call('ZCARD', P .. 'workers')
