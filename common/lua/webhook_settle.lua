-- Record one webhook delivery attempt in its job's ledger and, when it was
-- final (delivered or given up), ack the event in the consumer group and
-- forget its schedule; otherwise schedule the next attempt at `due`.  One
-- step: a restart never finds an attempt recorded and its event lost, or
-- an event acked without its last attempt in the ledger.
-- ARGV: prefix, event_id, job ('' when the event itself is gone: no
--       ledger), entry_json, final ('1' or '0'), due, ttl, ledger_max, group
local id, job = ARGV[2], ARGV[3]
if job ~= '' then
  local ledger = key(job, 'callbacks')
  redis.call('RPUSH', ledger, ARGV[4])
  redis.call('LTRIM', ledger, -tonumber(ARGV[8]), -1)
  if tonumber(ARGV[7]) > 0 then
    redis.call('EXPIRE', ledger, tonumber(ARGV[7]))
  end
end
if ARGV[5] == '1' then
  redis.call('XACK', P .. 'job-events', ARGV[9], id)
  redis.call('ZREM', P .. 'webhook-due', id)
  redis.call('HDEL', P .. 'webhook-tries', id)
else
  redis.call('ZADD', P .. 'webhook-due', ARGV[6], id)
end
return 1
