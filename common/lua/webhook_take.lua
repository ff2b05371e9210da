-- Take the webhook deliveries that are due, one attempt each.  An attempt
-- holds its event in webhook-due until now + hold (a lease: an API process
-- that dies in the middle of an attempt leaves the event to come due again
-- by itself), so two API processes never post the same event at once, and
-- it counts in webhook-tries.
-- ARGV: prefix, now, hold, limit.  Returns {event_id, attempt, ...}.
local now, hold = tonumber(ARGV[2]), tonumber(ARGV[3])
local taken = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'webhook-due', '-inf', now,
                               'LIMIT', 0, tonumber(ARGV[4]))) do
  redis.call('ZADD', P .. 'webhook-due', now + hold, id)
  taken[#taken + 1] = id
  taken[#taken + 1] = redis.call('HINCRBY', P .. 'webhook-tries', id, 1)
end
return taken
