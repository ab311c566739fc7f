-- Acknowledges pending entries whose delivery count is still the one the caller saw, so that a
-- late ack of an earlier delivery leaves the current delivery alone. An entry waiting for a
-- retry is acknowledged too; its waiting state and failure history go with it.
-- KEYS: stream, waiting set, history hash. ARGV: group, then pairs of entry ID and delivery
-- count (no duplicate IDs).
-- Returns how many were acknowledged; 0 when the group or the stream does not exist.
local stream, waiting, history, group = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local settled = 0
for i = 2, #ARGV - 1, 2 do
  local entry, no_group = pending_entry(stream, group, ARGV[i])
  if no_group then
    return 0
  end
  if entry and tostring(entry[4]) == ARGV[i + 1] then
    redis.call('XACK', stream, group, entry[1])
    redis.call('ZREM', waiting, entry[1])
    redis.call('HDEL', history, entry[1])
    settled = settled + 1
  end
end
return settled
