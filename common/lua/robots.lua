-- The worker that had a host's robots.txt duty reports what it found, for
-- the whole pool: 'rules' (a 2xx body, kept in host:H:robots), 'allow'
-- (4xx: RFC 9309 says allow all) or 'fail' (5xx, unreachable: disallow for
-- now and try again later, with backoff; after `max_tries` failures in a
-- row the host's pages are skipped, with `note` as the reason, for `keep`
-- seconds).  The robots.txt fetch was the host's fetch, so the task goes
-- back to the front of its queue and waits its turn (not an attempt), if
-- its job is still live and its page not recorded.
-- ARGV: prefix, job, depth, url, token, now, outcome, body, crawl_delay,
--       keep, note, fetched_at, max_tries, retry_seconds
local job, depth, url, token = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now, keep = tonumber(ARGV[6]), tonumber(ARGV[10])
local member = lease_member(job, depth, url)
local host = host_of(url)
local h = host_key(host)
if ARGV[7] == 'fail' then
  local tries = redis.call('HINCRBY', h, 'robots_tries', 1)
  if tries >= tonumber(ARGV[13]) then
    redis.call('HSET', h, 'robots', 'known', 'robots_until', now + keep,
               'robots_answer', 'deny ' .. ARGV[11], 'robots_tries', 0)
  else
    redis.call('HSET', h, 'robots', 'wait',
               'robots_until', now + tonumber(ARGV[14]) * 2 ^ (tries - 1))
  end
else
  local answer = 'allow'
  if ARGV[7] == 'rules' then
    answer = 'rules ' .. ARGV[6]
    redis.call('SET', host_key(host, 'robots'), ARGV[8], 'EX', math.ceil(keep) + 600)
  end
  redis.call('HSET', h, 'robots', 'known', 'robots_until', now + keep,
             'robots_answer', answer, 'robots_tries', 0, 'crawl_delay', ARGV[9])
end
redis.call('HDEL', h, 'duty')
local delay = pace(host)
local next_start = tonumber(ARGV[12]) + delay + (delay > 0 and START_MARGIN or 0)
local v = redis.call('HMGET', h, 'start_next', 'lease_next')
redis.call('HSET', h, 'start_next', math.max(number(v[1], 0), next_start),
           'lease_next', math.max(number(v[2], 0), next_start))
if holds(member, token) then
  drop_lease(member)
  if wanted(job, url) then
    put_back(member)
    redis.call('HINCRBY', key(job, 'attempts'), url, -1)
    redis.call('HINCRBY', key(job, 'pushes'), url, -1)
  end
else
  reschedule(host)
end
return 1
