-- Shared helpers, prepended to every script (see common/scripts.py), in
-- three parts: this file (names and small helpers), hosts.lua (pool-wide
-- politeness: which host may be fetched when) and jobs.lua (settling pages
-- and ending jobs).
-- ARGV[1] is always the key prefix; keys are built here rather than passed
-- in KEYS because a finish step touches keys it only learns while running
-- (new links, their hosts, images).  The store is a single Redis, not a
-- cluster.  common/keys.py documents every key.
local P = ARGV[1]

local function key(job, part)
  if part then
    return P .. 'job:' .. job .. ':' .. part
  end
  return P .. 'job:' .. job
end

local function host_key(host, part)
  if part then
    return P .. 'host:' .. host .. ':' .. part
  end
  return P .. 'host:' .. host
end

-- A job's queue of "depth url" entries for one host.
local function frontier(job, host)
  return key(job, 'frontier:' .. host)
end

local function is_live(status)
  return status == 'queued' or status == 'running'
end

local function lease_member(job, depth, url)
  return job .. ' ' .. depth .. ' ' .. url
end

-- "job depth url" -> job, depth, url
local function split_member(member)
  local first = string.find(member, ' ', 1, true)
  local second = string.find(member, ' ', first + 1, true)
  return string.sub(member, 1, first - 1), string.sub(member, first + 1, second - 1),
         string.sub(member, second + 1)
end

-- The unit of politeness, "scheme://host[:port]" of a normalised URL,
-- without userinfo; common.urls.host_key builds the same string.
local function host_of(url)
  local scheme, authority = string.match(url, '^([^:]+)://([^/?#]*)')
  return scheme .. '://' .. string.match(authority, '[^@]*$')
end

local function number(value, default)
  return tonumber(value) or default
end
