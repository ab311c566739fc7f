-- Removes the entries appended before a time. KEYS: stream, meta. ARGV: min timestamp ms.
-- Returns how many entries went. Timestamps never decrease within a partition (append.lua),
-- so a binary search over offsets finds the first entry to keep in O(log n) lookups.
local stream, meta, min_ts = KEYS[1], KEYS[2], tonumber(ARGV[1])
local lo = first_offset(stream)
if not lo then
  return 0
end
local first = lo
local hi = end_offset(stream, meta)
-- Invariant: every entry below `lo` is older than min_ts; the first entry at or after `hi`
-- (if any) is not.
while lo < hi do
  local mid = math.floor((lo + hi) / 2)
  local found = redis.call('XRANGE', stream, string.format('%d-0', mid), '+', 'COUNT', 1)
  if #found == 0 then
    hi = mid
  else
    local ts = tonumber(entry_field(found[1][2], 'ts')) or 0
    if ts >= min_ts then
      hi = mid
    else
      lo = id_offset(found[1][1]) + 1
    end
  end
end
if lo <= first then
  return 0
end
return redis.call('XTRIM', stream, 'MINID', string.format('%d-0', lo))
