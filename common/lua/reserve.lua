-- A task that waited in a worker's queue is about to start on a host with
-- a delay: reserve the host's next fetch start, or, if it is not due yet,
-- put the task in the delayed set until it is (not an attempt).  A task
-- whose job ended or whose page was recorded meanwhile is dropped.
-- ARGV: prefix, job, depth, url, token, now
-- Returns {'go'}, {'wait', due} or {'drop', reason}.
local job, depth, url, token = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local member = lease_member(job, depth, url)
if not holds(member, token) then
  return {'drop', 'lease lost'}
end
if not wanted(job, url) then
  drop_lease(member)
  return {'drop', 'job over or page done'}
end
local due = reserve_start(host_of(url), tonumber(ARGV[6]))
if due then
  drop_lease(member)
  put_back(member, due)
  redis.call('HINCRBY', key(job, 'attempts'), url, -1)
  redis.call('HINCRBY', key(job, 'pushes'), url, -1)
  return {'wait', tostring(due)}
end
return {'go'}
