-- ARGV: prefix, id, now, urls_json, options_json, max_depth, max_pages,
--       scope, ttl, url...  (start URLs: normalised, unique, capped)
local id, now, ttl = ARGV[2], ARGV[3], tonumber(ARGV[9])
local count = #ARGV - 9
redis.call('HSET', key(id),
  'id', id, 'status', 'queued', 'created_at', now,
  'urls', ARGV[4], 'options', ARGV[5],
  'max_depth', ARGV[6], 'max_pages', ARGV[7], 'scope', ARGV[8],
  'pages_admitted', count, 'pending', count,
  'pages_crawled', 0, 'pages_failed', 0, 'pages_skipped', 0,
  'pages_retried', 0, 'images_found', 0, 'ttl', ttl)
for i = 10, #ARGV do
  redis.call('SADD', key(id, 'seen'), ARGV[i])
  redis.call('RPUSH', key(id, 'frontier'), '0 ' .. ARGV[i])
end
-- The listing forgets jobs whose results expired, a few at a time.
if ttl > 0 then
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', P .. 'jobs', '-inf', tonumber(now) - ttl, 'LIMIT', 0, 100)) do
    if redis.call('EXISTS', key(old)) == 0 then
      redis.call('ZREM', P .. 'jobs', old)
    end
  end
end
redis.call('ZADD', P .. 'jobs', now, id)
redis.call('RPUSH', P .. 'active', id)
return count
