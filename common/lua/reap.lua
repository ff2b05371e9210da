-- Claim leases that ran out (a task lost on the wire, or a worker that
-- stalled) and leases whose owner stopped sending heartbeats (it died: no
-- need to wait out the lease), and put their tasks back on the front of
-- their queues.  A task started too often, or pushed too often without
-- ever starting, is recorded as a failed page so its job can still
-- complete.  Removing the lease is the claim: two API processes reaping
-- at once never take the same task.  The round also cancels jobs that
-- never started within their time to live (see the end).
-- ARGV: prefix, now, max_attempts, max_pushes, limit
-- Returns {requeued, failed}.
local now = ARGV[2]
local max_attempts, max_pushes = tonumber(ARGV[3]), tonumber(ARGV[4])
local requeued, failed = 0, 0

local function reclaim(member)
  local job, depth, url = split_member(member)
  if not is_live(redis.call('HGET', key(job), 'status'))
      or redis.call('HEXISTS', key(job, 'page'), url) == 1 then
    return
  end
  local attempts = number(redis.call('HGET', key(job, 'attempts'), url), 0)
  local pushes = number(redis.call('HGET', key(job, 'pushes'), url), 0)
  if attempts >= max_attempts or pushes >= max_pushes then
    local reason = 'gave up after ' .. attempts .. ' attempts (' .. pushes .. ' deliveries): lease expired'
    local page = {url = url, depth = tonumber(depth), status = 'error', error = reason, attempt = attempts}
    local tries = redis.call('HGET', key(job, 'tries'), url)
    if tries then page.tries = cjson.decode(tries) end
    record_page(job, url, cjson.encode(page), 'failed')
    settle(job, url, now)
    failed = failed + 1
  else
    put_back(member)
    redis.call('HINCRBY', key(job), 'pages_retried', 1)
    requeued = requeued + 1
  end
end

local claimed = redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
local owners = redis.call('HGETALL', P .. 'lease-owner')
for i = 1, #owners, 2 do
  local alive = redis.call('ZSCORE', P .. 'workers', owners[i + 1])
  if not alive or tonumber(alive) < tonumber(now) then
    claimed[#claimed + 1] = owners[i]
  end
end
for _, member in ipairs(claimed) do
  if drop_lease(member) then
    reclaim(member)
  end
end

-- A job still queued past its time to live (start-by) is cancelled, as a
-- finished one expires: a few a round, since each drops its place on all
-- its hosts.  An entry whose job has started is only let go of (an ended
-- job left start-by in drop_transient).
local EXPIRED_PER_ROUND = 20
for _, job in ipairs(redis.call('ZRANGEBYSCORE', P .. 'start-by', '-inf', now,
                                'LIMIT', 0, EXPIRED_PER_ROUND)) do
  redis.call('ZREM', P .. 'start-by', job)
  if redis.call('HGET', key(job), 'status') == 'queued' then
    redis.call('HSET', key(job), 'status', 'cancelled', 'finished_at', now,
               'cancel_reason', 'expired before it started')
    emit_event(job, 'job.failed', now)
    drop_transient(job)
  end
end
return {requeued, failed}
