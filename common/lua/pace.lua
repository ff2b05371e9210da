-- Reserve a fetch start on a host for a fetch that belongs to no task (a
-- sitemap, worker/sitemaps.py), so that it keeps the host's delay like
-- every page does.  A host the pool holds no record of has no delay to keep.
-- ARGV: prefix, host, now
-- Returns '' when the fetch may start now (the next start then waits the
-- host's delay), else the time it may.
local host, now = ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', host_key(host)) == 0 then
  return ''
end
local due = reserve_start(host, now)
return due and tostring(due) or ''
