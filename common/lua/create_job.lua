-- Record a new job and admit its start URLs at depth 0.  The job joins
-- its client's live jobs (the admission cap; drop_transient takes it out)
-- and, with a ttl, start-by: still queued after ttl, reap.lua cancels it.
-- ARGV: prefix, id, now, urls_json, options_json, max_depth ('' for no
--       limit), max_pages,
--       scope, ttl, host_concurrency, host_delay, robots, client ('' for
--       none), url... (start URLs: normalised, unique, at most max_pages)
local id, now, ttl = ARGV[2], ARGV[3], tonumber(ARGV[9])
redis.call('HSET', key(id),
  'id', id, 'status', 'queued', 'created_at', now,
  'urls', ARGV[4], 'options', ARGV[5],
  'max_depth', ARGV[6], 'max_pages', ARGV[7], 'scope', ARGV[8],
  'host_concurrency', ARGV[10], 'host_delay', ARGV[11], 'robots', ARGV[12],
  'pages_admitted', 0, 'pending', 0,
  'pages_crawled', 0, 'pages_failed', 0, 'pages_skipped', 0,
  'pages_retried', 0, 'images_found', 0, 'ttl', ttl)
-- A job whose webhook asks for progress (api/callbacks.py) gets a
-- job.progress event every callback_every_pages settled pages (settle).
local options = cjson.decode(ARGV[5])
if type(options.callback_events) == 'table' then
  for _, event in ipairs(options.callback_events) do
    if event == 'progress' then
      redis.call('HSET', key(id), 'progress_every', options.callback_every_pages)
    end
  end
end
local client = ARGV[13]
if client ~= '' then
  redis.call('HSET', key(id), 'client', client)
  redis.call('SADD', P .. 'client:' .. client .. ':jobs', id)
end
local urls = {}
for i = 14, #ARGV do
  urls[#urls + 1] = ARGV[i]
end
local count = admit(id, urls, 0)
-- The listing forgets jobs whose results expired, a few at a time.
if ttl > 0 then
  redis.call('ZADD', P .. 'start-by', tonumber(now) + ttl, id)
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', P .. 'jobs', '-inf', tonumber(now) - ttl, 'LIMIT', 0, 100)) do
    if redis.call('EXISTS', key(old)) == 0 then
      redis.call('ZREM', P .. 'jobs', old)
    end
  end
end
redis.call('ZADD', P .. 'jobs', now, id)
return count
