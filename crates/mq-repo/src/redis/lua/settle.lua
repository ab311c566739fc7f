-- Settles pending entries whose delivery count is still the one the caller saw, so that a late
-- ack or nack of an earlier delivery leaves the current delivery alone. KEYS: stream.
-- ARGV: group, mode ('ack' or 'release'), then pairs of entry ID and delivery count (no
-- duplicate IDs). 'ack' acknowledges; 'release' makes the entry claimable by claim.lua at once
-- without changing its holder or delivery count.
-- Returns how many were settled; 0 when the group or the stream does not exist.
local stream, group, mode = KEYS[1], ARGV[1], ARGV[2]
-- How idle a released entry looks: about 31 years, longer than any claim threshold in use
-- (the memory log uses the same figure). Below the server's clock, so XCLAIM takes it as is.
local released_idle = '1000000000000'
local settled = 0
for i = 3, #ARGV - 1, 2 do
  local pending = redis.pcall('XPENDING', stream, group, ARGV[i], ARGV[i], 1)
  if pending.err then
    if string.sub(pending.err, 1, 7) == 'NOGROUP' then
      return 0
    end
    return pending
  end
  local entry = pending[1]
  if entry and tostring(entry[4]) == ARGV[i + 1] then
    if mode == 'ack' then
      redis.call('XACK', stream, group, entry[1])
    else
      -- Claimed by its own holder: IDLE backdates the last delivery, JUSTID leaves the
      -- delivery count alone. (Redis 7 drops an entry trimmed away meanwhile from the PEL.)
      redis.call('XCLAIM', stream, group, entry[2], 0, entry[1], 'IDLE', released_idle, 'JUSTID')
    end
    settled = settled + 1
  end
end
return settled
