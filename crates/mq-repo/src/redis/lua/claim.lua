-- Moves pending entries idle long enough to another consumer. KEYS: stream.
-- ARGV: group, consumer, min idle ms, max entries.
-- Returns a flat list {id, delivery count, ts, envelope, id, ...} in offset order. Entries
-- trimmed away meanwhile are dropped from the pending list by XCLAIM and are not returned.
local stream, group, consumer, min_idle = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local pending = redis.pcall('XPENDING', stream, group, 'IDLE', min_idle, '-', '+', ARGV[4])
if pending.err then
  -- NOGROUP and the like go back to the caller unchanged.
  return pending
end
local counts, ids = {}, {}
for i, entry in ipairs(pending) do
  ids[i] = entry[1]
  counts[entry[1]] = entry[4]
end
local out = {}
-- XCLAIM in chunks: unpack() of thousands of IDs would overflow Lua's C stack.
local chunk = 100
for start = 1, #ids, chunk do
  local claimed = redis.call('XCLAIM', stream, group, consumer, min_idle,
    unpack(ids, start, math.min(start + chunk - 1, #ids)))
  for _, entry in ipairs(claimed) do
    -- Older servers answer a trimmed entry with nil (false here) or an entry without fields.
    if type(entry) == 'table' and type(entry[2]) == 'table' then
      local id = entry[1]
      -- XCLAIM raised the delivery count by one; XPENDING had the count before that.
      out[#out + 1] = id
      out[#out + 1] = (counts[id] or 0) + 1
      out[#out + 1] = entry_field(entry[2], 'ts') or '0'
      out[#out + 1] = entry_field(entry[2], 'e') or ''
    end
  end
end
return out
