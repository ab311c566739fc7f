-- Moves the given pending entries to another consumer at once, whatever their idle time.
-- KEYS: stream, waiting set, history hash. ARGV: group, consumer, entry IDs (ascending, no
-- duplicates).
-- Returns a flat list {id, delivery count, ts, envelope, id, ...} in the order of the IDs (see
-- `claim_entries` in common.lua). IDs that are not pending, or that wait for a retry (those are
-- redeliver.lua's), are skipped. Entries trimmed away meanwhile are dropped from the pending
-- list, with their failure history, and not returned.
local stream, waiting, history, group, consumer = KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2]
local counts, ids = {}, {}
for i = 3, #ARGV do
  local pending = redis.pcall('XPENDING', stream, group, ARGV[i], ARGV[i], 1)
  if pending.err then
    -- NOGROUP and the like go back to the caller unchanged.
    return pending
  end
  local entry = pending[1]
  if entry and not redis.call('ZSCORE', waiting, entry[1]) then
    ids[#ids + 1] = entry[1]
    counts[entry[1]] = entry[4]
  end
end
return claim_entries(stream, group, consumer, ids, counts, history)
