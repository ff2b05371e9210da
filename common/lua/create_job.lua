-- ARGV: prefix, id, now, urls_json, options_json, max_depth, max_pages,
--       scope, url...  (start URLs: normalised, unique, capped to max_pages)
local id, now = ARGV[2], ARGV[3]
local count = #ARGV - 8
redis.call('HSET', key(id),
  'id', id, 'status', 'queued', 'created_at', now,
  'urls', ARGV[4], 'options', ARGV[5],
  'max_depth', ARGV[6], 'max_pages', ARGV[7], 'scope', ARGV[8],
  'pages_admitted', count, 'pending', count,
  'pages_crawled', 0, 'pages_failed', 0, 'pages_skipped', 0,
  'pages_retried', 0, 'images_found', 0)
for i = 9, #ARGV do
  redis.call('SADD', key(id, 'seen'), ARGV[i])
  redis.call('RPUSH', key(id, 'frontier'), '0 ' .. ARGV[i])
end
redis.call('ZADD', P .. 'jobs', now, id)
redis.call('RPUSH', P .. 'active', id)
return count
