-- A worker announces it is alive and how many tasks it can hold; workers
-- that stopped announcing drop out of the dispatch capacity.  A draining
-- worker is alive with 0 slots (its leases are still its own); a worker
-- that has left announces an expiry that is already past.
-- ARGV: prefix, worker, now, expires_at, slots
local now = tonumber(ARGV[3])
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', P .. 'workers', '-inf', now)) do
  redis.call('HDEL', P .. 'worker-slots', gone)
end
redis.call('ZREMRANGEBYSCORE', P .. 'workers', '-inf', now)
if tonumber(ARGV[4]) > now then
  redis.call('ZADD', P .. 'workers', ARGV[4], ARGV[2])
  redis.call('HSET', P .. 'worker-slots', ARGV[2], ARGV[5])
else
  redis.call('ZREM', P .. 'workers', ARGV[2])
  redis.call('HDEL', P .. 'worker-slots', ARGV[2])
end
return redis.call('ZCARD', P .. 'workers')
