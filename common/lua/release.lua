-- A worker hands a task back untried (it is draining, its queue is full,
-- or it fetched the host's robots.txt first): back to the front of its
-- queue at once, costing the page neither an attempt nor a delivery (a
-- task whose job ended, or whose page was recorded, is only let go of).
-- ARGV: prefix, job, depth, url, token, attempted ('1' when start.lua
-- counted an attempt).  Returns 1, or 0 when the lease was not this push's.
local job, depth, url, token = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local member = lease_member(job, depth, url)
if not holds(member, token) then
  return 0
end
drop_lease(member)
if not wanted(job, url) then
  return 1
end
put_back(member)
redis.call('HINCRBY', key(job, 'pushes'), url, -1)
if ARGV[6] == '1' then
  redis.call('HINCRBY', key(job, 'attempts'), url, -1)
end
return 1
