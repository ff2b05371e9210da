-- Claim leases that ran out (a worker died, stalled, or ZeroMQ dropped the
-- message) and put their tasks back on the front of the frontier; a task
-- attempted too often, or pushed too often without ever starting, is
-- recorded as a failed page so its job can still complete.  ZREM is the
-- claim: two API processes reaping at once never take the same lease.
-- ARGV: prefix, now, max_attempts, max_pushes, limit
-- Returns {requeued, failed}.
local now = ARGV[2]
local max_attempts, max_pushes = tonumber(ARGV[3]), tonumber(ARGV[4])
local requeued, failed = 0, 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))) do
  redis.call('ZREM', P .. 'leases', member)
  local first = string.find(member, ' ', 1, true)
  local second = string.find(member, ' ', first + 1, true)
  local job = string.sub(member, 1, first - 1)
  local depth = string.sub(member, first + 1, second - 1)
  local url = string.sub(member, second + 1)
  if is_live(redis.call('HGET', key(job), 'status'))
      and redis.call('HEXISTS', key(job, 'page'), url) == 0 then
    local attempts = tonumber(redis.call('HGET', key(job, 'attempts'), url) or 0)
    local pushes = tonumber(redis.call('HGET', key(job, 'pushes'), url) or 0)
    if attempts >= max_attempts or pushes >= max_pushes then
      local reason = 'gave up after ' .. attempts .. ' attempts (' .. pushes .. ' deliveries): lease expired'
      record_page(job, url, cjson.encode({url = url, depth = tonumber(depth), status = 'error',
        error = reason, attempts = attempts}), 'failed')
      settle(job, now)
      failed = failed + 1
    else
      redis.call('LPUSH', key(job, 'frontier'), depth .. ' ' .. url)
      redis.call('HINCRBY', key(job), 'pages_retried', 1)
      requeued = requeued + 1
    end
  end
end
return {requeued, failed}
