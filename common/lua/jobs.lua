-- Settling pages and ending jobs.

-- Whether a task is still to be crawled: its job is live and its page not
-- recorded.  A held lease of any other task is only to be dropped: an ended
-- job's queues and counters per URL are gone (drop_transient) and must not
-- come back.
local function wanted(job, url)
  return is_live(redis.call('HGET', key(job), 'status'))
    and redis.call('HEXISTS', key(job, 'page'), url) == 0
end

-- Record a page once.  Returns false when it was recorded before, which is
-- what makes a second delivery of the same task harmless.
local function record_page(job, url, page_json, outcome)
  if redis.call('HSETNX', key(job, 'page'), url, page_json) == 0 then
    return false
  end
  redis.call('RPUSH', key(job, 'pages'), url)
  redis.call('HINCRBY', key(job), 'pages_' .. outcome, 1)
  return true
end

-- Forget what only an unfinished job needs, its place on every host
-- included, and its place among its client's live jobs (which frees a
-- slot under the admission cap) and in start-by; the results stay for the
-- job's time to live (JOB_TTL_SECONDS; 0 keeps them).  Its leases and
-- delayed retries are dropped as they come up (the job is no longer live).
local function drop_transient(job)
  local client = redis.call('HGET', key(job), 'client')
  if client then
    redis.call('SREM', P .. 'client:' .. client .. ':jobs', job)
  end
  redis.call('ZREM', P .. 'start-by', job)
  for _, host in ipairs(redis.call('SMEMBERS', key(job, 'hosts'))) do
    redis.call('HDEL', host_key(host, 'load'), job)
    forget_queue(job, host)
    host_limits(host)
    reschedule(host)
  end
  redis.call('DEL', key(job, 'hosts'), key(job, 'seen'), key(job, 'attempts'),
             key(job, 'pushes'), key(job, 'tries'))
  local ttl = number(redis.call('HGET', key(job), 'ttl'), 0)
  if ttl > 0 then
    for _, part in ipairs({'page', 'pages', 'image', 'images'}) do
      redis.call('EXPIRE', key(job, part), ttl)
    end
    redis.call('EXPIRE', key(job), ttl)
  end
end

-- Append a lifecycle event (common/keys.py EVENTS) to the job-events
-- stream, in the step that makes the change, so that no event is lost or
-- made up; the API's events feed logs it and sends the job's webhooks.
-- The state is the job as it is at that moment: status, times, counters.
local EVENT_STATE = {'status', 'created_at', 'started_at', 'finished_at', 'cancel_reason',
  'pending', 'pages_admitted', 'pages_crawled', 'pages_failed', 'pages_skipped',
  'pages_retried', 'images_found'}
local function emit_event(job, event, now)
  local values = redis.call('HMGET', key(job), unpack(EVENT_STATE))
  local state = {}
  for i, field in ipairs(EVENT_STATE) do
    if values[i] then state[field] = values[i] end
  end
  redis.call('XADD', P .. 'job-events', 'MAXLEN', '~', EVENTS_MAXLEN, '*',
             'event', event, 'job', job, 'time', now, 'state', cjson.encode(state))
end

-- One admitted page is settled; the last one completes the job, in the
-- same atomic step as the page itself.  A job that asked for progress
-- events gets one every progress_every settled pages.
local function settle(job, url, now)
  drop_load(job, host_of(url))
  local pending = redis.call('HINCRBY', key(job), 'pending', -1)
  if pending <= 0 then
    redis.call('HSET', key(job), 'status', 'completed', 'finished_at', now)
    emit_event(job, 'job.completed', now)
    drop_transient(job)
    return
  end
  local counts = redis.call('HMGET', key(job), 'progress_every',
                            'pages_crawled', 'pages_failed', 'pages_skipped')
  local every = tonumber(counts[1])
  if every and (tonumber(counts[2]) + tonumber(counts[3]) + tonumber(counts[4])) % every == 0 then
    emit_event(job, 'job.progress', now)
  end
end

-- Admit `links` (normalised URLs) at `depth` to a live job: dedup, the
-- max_pages bound, one queue per host.  Returns how many were admitted.
local function admit(job, links, depth)
  local limits = redis.call('HMGET', key(job), 'max_pages', 'pages_admitted')
  local max_pages, total = tonumber(limits[1]), tonumber(limits[2])
  local per_host, hosts = {}, {}
  local admitted = 0
  for _, link in ipairs(links) do
    if total >= max_pages then break end
    if redis.call('SADD', key(job, 'seen'), link) == 1 then
      local host = host_of(link)
      enqueue(job, host, depth .. ' ' .. link, false)
      if not per_host[host] then
        per_host[host] = 0
        hosts[#hosts + 1] = host
      end
      per_host[host] = per_host[host] + 1
      total = total + 1
      admitted = admitted + 1
    end
  end
  for _, host in ipairs(hosts) do
    add_load(job, host, per_host[host])
    reschedule(host)
  end
  if admitted > 0 then
    redis.call('HSET', key(job), 'pages_admitted', total)
    redis.call('HINCRBY', key(job), 'pending', admitted)
  end
  return admitted
end
