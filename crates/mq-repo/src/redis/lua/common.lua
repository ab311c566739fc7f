-- Helpers shared by every mq script; scripts.rs prepends this file to each of them.
-- Offset N is stream entry ID "N-1"; "N-0" sorts just before it (see keys.rs).

-- The offset of an entry ID (its millisecond part).
local function id_offset(id)
  return tonumber(string.match(id, '^(%d+)-'))
end

-- The value of a field in an entry's flat field list, or false.
local function entry_field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then
      return fields[i + 1]
    end
  end
  return false
end

-- The offset of the oldest stored entry, or nil when the stream is empty or missing.
local function first_offset(stream)
  local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if #oldest == 0 then
    return nil
  end
  return id_offset(oldest[1][1])
end

-- The offset the next append gets. Normally the meta hash's `next`. Should that hash be
-- missing while the stream exists (created empty by XGROUP CREATE MKSTREAM, or the hash lost
-- to an eviction policy or a stray DEL), the stream's last generated ID, which survives
-- trimming, keeps offsets increasing.
local function end_offset(stream, meta)
  local next = tonumber(redis.call('HGET', meta, 'next'))
  if next then
    return next
  end
  if redis.call('EXISTS', stream) == 0 then
    return 0
  end
  local last = entry_field(redis.call('XINFO', 'STREAM', stream), 'last-generated-id')
  local ms, seq = string.match(last or '', '^(%d+)-(%d+)$')
  if not ms or tonumber(seq) == 0 then
    return tonumber(ms) or 0
  end
  return tonumber(ms) + 1
end
