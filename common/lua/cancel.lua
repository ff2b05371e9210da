-- Cancel a live job; cancelling twice is harmless.  Queued tasks go with
-- its queues; leased ones are dropped by the worker's start step, delayed
-- ones when they come due.
-- ARGV: prefix, id, now.  Returns the status after the call, or false.
local job = ARGV[2]
local status = redis.call('HGET', key(job), 'status')
if is_live(status) then
  redis.call('HSET', key(job), 'status', 'cancelled', 'finished_at', ARGV[3])
  emit_event(job, 'job.cancelled', ARGV[3])
  drop_transient(job)
  return 'cancelled'
end
return status
