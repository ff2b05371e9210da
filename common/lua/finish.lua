-- The one atomic step that ends a task: release the lease, record the page
-- and its images, admit its new links, move the counters, and complete the
-- job when this was its last page.  Returns the number of links admitted,
-- -1 when the job is no longer live, -2 when the page was already recorded.
-- Repeating it (a worker that lost Redis tries again) changes nothing.
-- ARGV: prefix, job, depth, url, token, outcome, page_json, images_json,
--       links_json, found_on, max_found_on, now
local job, depth, url = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local member = lease_member(job, ARGV[3], url)
if holds(member, ARGV[5]) then
  drop_lease(member)
end
if not is_live(redis.call('HGET', key(job), 'status')) then
  return -1
end
if not record_page(job, url, ARGV[7], ARGV[6]) then
  return -2
end
local found_on, max_found_on = ARGV[10], tonumber(ARGV[11])
-- A new image costs one HSETNX; the list and the counter move once a page.
local fresh = {}
for _, image in ipairs(cjson.decode(ARGV[8])) do
  local image_url, kinds, alt = image[1], image[2], image[3]
  local new = cjson.encode({sources = kinds, found_on = {found_on}, alt = alt})
  if redis.call('HSETNX', key(job, 'image'), image_url, new) == 1 then
    fresh[#fresh + 1] = image_url
  else
    local record = cjson.decode(redis.call('HGET', key(job, 'image'), image_url))
    local known = {}
    for _, kind in ipairs(record.sources) do known[kind] = true end
    for _, kind in ipairs(kinds) do
      if not known[kind] then table.insert(record.sources, kind) end
    end
    local listed = false
    for _, page in ipairs(record.found_on) do
      if page == found_on then listed = true break end
    end
    if not listed and #record.found_on < max_found_on then
      table.insert(record.found_on, found_on)
    end
    if (record.alt == nil or record.alt == '') and alt and alt ~= '' then
      record.alt = alt
    end
    redis.call('HSET', key(job, 'image'), image_url, cjson.encode(record))
  end
end
for i = 1, #fresh, 1000 do
  redis.call('RPUSH', key(job, 'images'), unpack(fresh, i, math.min(i + 999, #fresh)))
end
if #fresh > 0 then
  redis.call('HINCRBY', key(job), 'images_found', #fresh)
end
-- A redirect target is this page: never admit it again as a link.
if found_on ~= url then
  redis.call('SADD', key(job, 'seen'), found_on)
end
local admitted = 0
-- An empty max_depth is no depth limit (keys.depth_limit).
local max_depth = tonumber(redis.call('HGET', key(job), 'max_depth'))
if max_depth == nil or depth < max_depth then
  admitted = admit(job, cjson.decode(ARGV[9]), tostring(depth + 1))
end
settle(job, url, ARGV[12])
return admitted
