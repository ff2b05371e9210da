-- A worker received a task: take it on in the worker's name (renew the
-- lease from now, record the owner, count the attempt), so that the reaper
-- takes it back as soon as that worker's heartbeat stops.  With `reserve`
-- (the worker has a slot free and will fetch at once) this also reserves
-- the host's next fetch start: on a host with a delay, a task that came
-- too early goes to the delayed set until the host is due, at no cost.
-- ARGV: prefix, job, depth, url, token, now, lease_seconds, want_settings,
--       worker, reserve
-- Returns {'go', attempt, robots, paced, tries, [urls_json, options_json]},
-- {'wait', due} or {'drop', reason}.  robots is '' (not obeyed), 'fetch'
-- (this worker fetches the host's robots.txt first), 'allow', 'deny <why>'
-- or 'rules <version>' (the rules in host:H:robots); paced is '1' when the
-- host has a delay (a task started later must call reserve.lua first);
-- tries is the JSON list of the earlier tries' outcomes, or ''.
local job, depth, url, token = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now = tonumber(ARGV[6])
local member = lease_member(job, depth, url)
local status = redis.call('HGET', key(job), 'status')
if not is_live(status) then
  if holds(member, token) then drop_lease(member) end
  return {'drop', status or 'unknown job'}
end
if redis.call('HEXISTS', key(job, 'page'), url) == 1 then
  if holds(member, token) then drop_lease(member) end
  return {'drop', 'already done'}
end
if not holds(member, token) then
  return {'drop', 'lease lost'}
end
local host = host_of(url)
local paced = pace(host) > 0
if ARGV[10] == '1' and paced then
  local due = reserve_start(host, now)
  if due then
    drop_lease(member)
    put_back(member, due)
    redis.call('HINCRBY', key(job, 'pushes'), url, -1)
    return {'wait', tostring(due)}
  end
end
redis.call('ZADD', P .. 'leases', now + tonumber(ARGV[7]), member)
redis.call('HSET', P .. 'lease-owner', member, ARGV[9])
local attempt = redis.call('HINCRBY', key(job, 'attempts'), url, 1)
local reply = {'go', attempt, robots_for(job, host, member), paced and '1' or '0',
               redis.call('HGET', key(job, 'tries'), url) or ''}
if ARGV[8] == '1' then
  local settings = redis.call('HMGET', key(job), 'urls', 'options')
  for _, value in ipairs(settings) do reply[#reply + 1] = value end
end
return reply
