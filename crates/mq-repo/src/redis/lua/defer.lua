-- Gives deliveries back unprocessed: each entry still pending with the delivery count the
-- caller saw, and in flight (not already waiting), waits for a retry like a failed one, but
-- gets no history line, and its delivery count goes back by one (XCLAIM RETRYCOUNT), so the
-- next delivery has the count this one had.
-- KEYS: stream, waiting set, history hash. ARGV: group, retry-at ms, then pairs of entry ID and
-- delivery count (no duplicate IDs). Returns how many were deferred; 0 when the group or the
-- stream does not exist.
local stream, waiting, group, retry_at = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local deferred = 0
for i = 3, #ARGV - 1, 2 do
  local id, count = ARGV[i], ARGV[i + 1]
  local entry, no_group = pending_entry(stream, group, id)
  if no_group then
    return 0
  end
  if entry and tostring(entry[4]) == count and not redis.call('ZSCORE', waiting, id) then
    -- Claimed by its own holder with JUSTID, so the idle time restarts as in fail.lua;
    -- RETRYCOUNT sets the count. Redis 7 drops an entry trimmed away meanwhile instead.
    local back = math.max(tonumber(count) - 1, 0)
    local kept = redis.call('XCLAIM', stream, group, entry[2], 0, id, 'RETRYCOUNT', back, 'JUSTID')
    if #kept > 0 then
      redis.call('ZADD', waiting, retry_at, id)
      deferred = deferred + 1
    end
  end
end
return deferred
