-- A page of a group's pending entries with their retry times. KEYS: stream, waiting set.
-- ARGV: group, max entries. Returns {{id, holder, idle ms, delivery count, retry-at ms or
-- false}, ...} in ID order; NOGROUP and the like go back to the caller unchanged.
local stream, waiting, group = KEYS[1], KEYS[2], ARGV[1]
local rows = redis.pcall('XPENDING', stream, group, '-', '+', ARGV[2])
if rows.err then
  return rows
end
-- Most groups have nothing waiting; then one command answers for every row.
local any_waiting = redis.call('EXISTS', waiting) == 1
local out = {}
for i, row in ipairs(rows) do
  local retry_at = false
  if any_waiting then
    retry_at = tonumber(redis.call('ZSCORE', waiting, row[1])) or false
  end
  out[i] = {row[1], row[2], row[3], row[4], retry_at}
end
return out
