-- A try failed in a way that may pass (a timeout, a 503): the task waits
-- in the delayed set until `due`, holding no worker slot, and the outcome
-- joins the page's history.  With `pause` (a 429/503 said Retry-After) the
-- whole host waits until then.  A task whose job ended, or whose page was
-- recorded, is only let go of.
-- ARGV: prefix, job, depth, url, token, due, pause, try_json
-- Returns 1, or 0 when the lease was not this push's (it was taken back).
local job, depth, url, token = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local member = lease_member(job, depth, url)
if not holds(member, token) then
  return 0
end
if not wanted(job, url) then
  drop_lease(member)
  return 1
end
local host = host_of(url)
if ARGV[7] ~= '' then
  local h, pause = host_key(host), tonumber(ARGV[7])
  local v = redis.call('HMGET', h, 'start_next', 'lease_next')
  redis.call('HSET', h, 'start_next', math.max(number(v[1], 0), pause),
             'lease_next', math.max(number(v[2], 0), pause))
end
drop_lease(member)
put_back(member, tonumber(ARGV[6]))
local tries = redis.call('HGET', key(job, 'tries'), url)
if tries then
  tries = string.sub(tries, 1, -2) .. ',' .. ARGV[8] .. ']'
else
  tries = '[' .. ARGV[8] .. ']'
end
redis.call('HSET', key(job, 'tries'), url, tries)
redis.call('HINCRBY', key(job), 'pages_retried', 1)
return 1
