-- Moves the given pending entries to another consumer at once, whatever their idle time.
-- KEYS: stream. ARGV: group, consumer, entry IDs (ascending, no duplicates).
-- Returns the same flat list as claim.lua, {id, delivery count, ts, envelope, id, ...}, in the
-- order of the IDs. IDs that are not pending are skipped. Entries trimmed away meanwhile are
-- dropped from the pending list and not returned.
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local counts, ids = {}, {}
for i = 3, #ARGV do
  local pending = redis.pcall('XPENDING', stream, group, ARGV[i], ARGV[i], 1)
  if pending.err then
    -- NOGROUP and the like go back to the caller unchanged.
    return pending
  end
  local entry = pending[1]
  if entry then
    ids[#ids + 1] = entry[1]
    counts[entry[1]] = entry[4]
  end
end
local out = {}
-- XCLAIM in chunks: unpack() of thousands of IDs would overflow Lua's C stack.
local chunk = 100
for start = 1, #ids, chunk do
  local batch = {unpack(ids, start, math.min(start + chunk - 1, #ids))}
  -- Min idle 0: every ID here is pending, so each is claimed unless trimmed away.
  local claimed = redis.call('XCLAIM', stream, group, consumer, 0, unpack(batch))
  local returned = {}
  for _, entry in ipairs(claimed) do
    -- Older servers answer a trimmed entry with nil (false here) or an entry without fields.
    if type(entry) == 'table' and type(entry[2]) == 'table' then
      local id = entry[1]
      returned[id] = true
      -- XCLAIM raised the delivery count by one; XPENDING had the count before that.
      out[#out + 1] = id
      out[#out + 1] = (counts[id] or 0) + 1
      out[#out + 1] = entry_field(entry[2], 'ts') or '0'
      out[#out + 1] = entry_field(entry[2], 'e') or ''
    end
  end
  -- Redis 7 drops a trimmed entry from the pending list itself; older servers keep it (now
  -- held by `consumer`), so drop it here. A no-op where it is already gone.
  for _, id in ipairs(batch) do
    if not returned[id] then
      redis.call('XACK', stream, group, id)
    end
  end
end
return out
