-- Admission control for a new job of one client, in one atomic step, so
-- that every API process shares the limits.  Three token buckets (the
-- client's job creations, everyone's job creations, the client's pages)
-- and the client's live jobs (client:C:jobs, kept by create_job.lua and
-- drop_transient).  A bucket holds at most `burst`, refills at `rate` a
-- second from the caller's clock, and a missing bucket is full; a bucket
-- whose rate is 0 is off, as is the live cap at 0.  Either every bucket
-- pays (admitted) or none does.
-- ARGV: prefix, now, client, pages, client_rate, client_burst, total_rate,
--       total_burst, live_jobs, pages_rate, pages_burst
-- Returns {'ok'}, or {limit, wait, pages_left}: the limit that refused
-- ('live_jobs', 'client_rate', 'total_rate' or 'pages'), seconds until it
-- would admit ('' for live_jobs: it waits for a job to end) and the pages
-- the client has left ('' when the page budget is off).
local now = tonumber(ARGV[2])
local client = P .. 'client:' .. ARGV[3]
local buckets = {
  {limit = 'client_rate', key = client, field = 'jobs', cost = 1,
   rate = tonumber(ARGV[5]), burst = tonumber(ARGV[6])},
  {limit = 'total_rate', key = P .. 'admission', field = 'jobs', cost = 1,
   rate = tonumber(ARGV[7]), burst = tonumber(ARGV[8])},
  {limit = 'pages', key = client, field = 'pages', cost = tonumber(ARGV[4]),
   rate = tonumber(ARGV[10]), burst = tonumber(ARGV[11])},
}

-- What a bucket holds now.
local function level(b)
  local v = redis.call('HMGET', b.key, b.field, b.field .. '_at')
  if not v[1] then return b.burst end
  return math.min(b.burst, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * b.rate)
end

-- The bucket that must wait longest, and how long; nil when none must.
local function slowest(active)
  local worst, wait = nil, 0
  for _, b in ipairs(active) do
    if b.have < b.cost and (b.cost - b.have) / b.rate > wait then
      worst, wait = b, (b.cost - b.have) / b.rate
    end
  end
  return worst, wait
end

local active = {}
for _, b in ipairs(buckets) do
  if b.rate > 0 then
    b.have = level(b)
    active[#active + 1] = b
  end
end
local pages_left = buckets[3].have and tostring(math.floor(buckets[3].have)) or ''
local live = tonumber(ARGV[9])
if live > 0 and redis.call('SCARD', client .. ':jobs') >= live then
  return {'live_jobs', '', pages_left}
end
local worst, wait = slowest(active)
if worst then
  return {worst.limit, tostring(wait), pages_left}
end

-- Pay, and let each hash expire once all its buckets would be full again.
local full_in = {}
for _, b in ipairs(active) do
  local left = b.have - b.cost
  redis.call('HSET', b.key, b.field, left, b.field .. '_at', now)
  full_in[b.key] = math.max(full_in[b.key] or 0, (b.burst - left) / b.rate)
end
for _, k in ipairs({client, P .. 'admission'}) do
  if full_in[k] then
    redis.call('EXPIRE', k, math.ceil(full_in[k]) + 1)
  end
end
return {'ok'}
