-- Restarts the ack timeout of in-flight entries: each entry still pending with the delivery
-- count the caller saw, and not waiting for a retry, is claimed by its own holder with
-- `IDLE <ms> JUSTID`: same holder, same count, idle time set as given.
-- KEYS: stream, waiting set, history hash. ARGV: group, idle ms, then pairs of entry ID and
-- delivery count (no duplicate IDs). Returns how many were touched; 0 when the group or the
-- stream does not exist.
local stream, waiting, group, idle = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local touched = 0
for i = 3, #ARGV - 1, 2 do
  local id, count = ARGV[i], ARGV[i + 1]
  local entry, no_group = pending_entry(stream, group, id)
  if no_group then
    return 0
  end
  if entry and tostring(entry[4]) == count and not redis.call('ZSCORE', waiting, id) then
    local kept = redis.call('XCLAIM', stream, group, entry[2], 0, id, 'IDLE', idle, 'JUSTID')
    if #kept > 0 then
      touched = touched + 1
    end
  end
end
return touched
