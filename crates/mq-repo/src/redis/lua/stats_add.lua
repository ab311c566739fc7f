-- Adds to one counter series. KEYS: the series' hash (bucket start in seconds -> count). ARGV:
-- keep_secs, then pairs of bucket start and a positive count (each bucket once).
--
-- Retention: the hash never holds a bucket starting more than keep_secs before its newest one.
-- That can only change when a new field appears (a newer bucket moves the window on; an older
-- one may already be out of it), so only then are the fields scanned and the stale ones
-- dropped: about once per bucket width per series, not on every add. The key's expiry is set to
-- keep_secs past the newest bucket of this add and at least keep_secs (and 1 s) from now, and
-- never shortened, so a series nobody adds to any more goes as a whole.
local key = KEYS[1]
local keep = tonumber(ARGV[1])
local before = redis.call('HLEN', key)
local newest
for i = 2, #ARGV, 2 do
  redis.call('HINCRBY', key, ARGV[i], ARGV[i + 1])
  local bucket = tonumber(ARGV[i])
  if not newest or bucket > newest then
    newest = bucket
  end
end
if not newest then
  return 0
end

if redis.call('HLEN', key) > before then
  local fields = redis.call('HKEYS', key)
  local top = newest
  for _, field in ipairs(fields) do
    local bucket = tonumber(field)
    if bucket and bucket > top then
      top = bucket
    end
  end
  local stale = {}
  for _, field in ipairs(fields) do
    local bucket = tonumber(field)
    if bucket and bucket < top - keep then
      stale[#stale + 1] = field
    end
  end
  -- HDEL in chunks: unpack() of thousands of fields would overflow Lua's C stack.
  for start = 1, #stale, 100 do
    redis.call('HDEL', key, unpack(stale, start, math.min(start + 99, #stale)))
  end
end

local now = tonumber(redis.call('TIME')[1])
local ttl = keep + math.max(0, newest - now)
if ttl < 1 then
  ttl = 1
end
if redis.call('TTL', key) < ttl then
  redis.call('EXPIRE', key, string.format('%d', ttl))
end
return 1
