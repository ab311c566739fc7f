-- Acknowledges pending entries by ID, dropping their waiting state and failure history.
-- KEYS: stream, waiting set, history hash. ARGV: group, then entry IDs.
-- Returns how many were pending, as XACK counts: 0 when the group or the stream does not exist.
local stream, waiting, history, group = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local acked = 0
-- In chunks: unpack() of thousands of IDs would overflow Lua's C stack.
local chunk = 100
for start = 2, #ARGV, chunk do
  local ids = {unpack(ARGV, start, math.min(start + chunk - 1, #ARGV))}
  acked = acked + redis.call('XACK', stream, group, unpack(ids))
  -- Every given ID, acknowledged now or not: waiting state and history belong only to
  -- pending entries, so there is nothing to keep for the others.
  redis.call('ZREM', waiting, unpack(ids))
  redis.call('HDEL', history, unpack(ids))
end
return acked
