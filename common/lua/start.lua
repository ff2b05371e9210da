-- A worker is about to crawl a task: renew its lease from now, count the
-- attempt, and tell the worker whether to go on.  Returns
-- {'go', attempt, [urls_json, scope, max_depth]} or {'drop', reason}.
-- The worker becomes the lease's owner, so that the reaper can requeue its
-- tasks as soon as its heartbeat stops, without waiting out the lease.
-- ARGV: prefix, job, depth, url, now, lease_seconds, want_settings, worker
local job, depth, url = ARGV[2], ARGV[3], ARGV[4]
local member = lease_member(job, depth, url)
local status = redis.call('HGET', key(job), 'status')
if not is_live(status) then
  drop_lease(member)
  return {'drop', status or 'unknown job'}
end
if redis.call('HEXISTS', key(job, 'page'), url) == 1 then
  drop_lease(member)
  return {'drop', 'already done'}
end
if redis.call('ZSCORE', P .. 'leases', member) then
  redis.call('ZADD', P .. 'leases', tonumber(ARGV[5]) + tonumber(ARGV[6]), member)
  redis.call('HSET', P .. 'lease-owner', member, ARGV[8])
end
local attempt = redis.call('HINCRBY', key(job, 'attempts'), url, 1)
if ARGV[7] == '1' then
  local settings = redis.call('HMGET', key(job), 'urls', 'scope', 'max_depth')
  return {'go', attempt, settings[1], settings[2], settings[3]}
end
return {'go', attempt}
