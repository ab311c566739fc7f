-- Makes pending entries claimable by claim.lua at once, without changing their holder or
-- delivery count. KEYS: stream. ARGV: group, entry IDs (no duplicates).
-- Returns how many were pending; 0 when the group or the stream does not exist.
local stream, group = KEYS[1], ARGV[1]
-- How idle a released entry looks: about 31 years, longer than any claim threshold in use
-- (the memory log uses the same figure). Below the server's clock, so XCLAIM takes it as is.
local released_idle = '1000000000000'
local released = 0
for i = 2, #ARGV do
  local pending = redis.pcall('XPENDING', stream, group, ARGV[i], ARGV[i], 1)
  if pending.err then
    if string.sub(pending.err, 1, 7) == 'NOGROUP' then
      return 0
    end
    return pending
  end
  local entry = pending[1]
  if entry then
    -- Claimed by its own holder: IDLE backdates the last delivery, JUSTID leaves the delivery
    -- count alone. (Redis 7 drops an entry trimmed away meanwhile from the pending list.)
    redis.call('XCLAIM', stream, group, entry[2], 0, entry[1], 'IDLE', released_idle, 'JUSTID')
    released = released + 1
  end
end
return released
