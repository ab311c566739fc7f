-- Where a group stands in a partition. KEYS: stream, meta. ARGV: group.
-- Returns {end offset, first offset, last-delivered-id, pending count}, or nil (false) when the
-- group does not exist. One script so that all four numbers describe the same moment.
local stream, meta, group = KEYS[1], KEYS[2], ARGV[1]
if redis.call('EXISTS', stream) == 0 then
  return false
end
local last = end_offset(stream, meta)
local first = first_offset(stream) or last
for _, info in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
  if entry_field(info, 'name') == group then
    return {last, first, entry_field(info, 'last-delivered-id'), entry_field(info, 'pending')}
  end
end
return false
