-- Delivers again the entries whose retry time has come, and lists in-flight entries whose ack
-- timeout ran out. KEYS: stream, waiting set, history hash. ARGV: group, consumer, now ms, ack
-- timeout ms, max entries (of each kind).
-- Returns {claimed, expired}: claimed is the flat list of `claim_entries` (common.lua), lowest
-- offsets first; expired is {{id, holder, idle ms, delivery count, false}, ...} in offset
-- order, the rows of pending.lua for entries not waiting.
local stream, waiting, history = KEYS[1], KEYS[2], KEYS[3]
local group, consumer, now, ack_timeout = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
-- Capped so that counts stay exact integers when formatted back into arguments; no pending
-- list comes near it.
local max = math.min(tonumber(ARGV[5]), 1e12)
-- How many due entries one call considers, the lowest offsets among them first: more than any
-- batch a caller asks for, few enough to sort at once.
local due_cap = 10000
-- How many waiting entries the expired scan passes over at most. Each has its idle time reset,
-- so later scans do not meet it again until the ack timeout has run out once more.
local skip_cap = 1000

-- 1. Due entries: by retry time from the waiting set, then by offset.
local due = redis.call('ZRANGEBYSCORE', waiting, '-inf', now, 'LIMIT', 0, due_cap)
table.sort(due, function(a, b) return id_offset(a) < id_offset(b) end)
local counts, ids = {}, {}
for _, id in ipairs(due) do
  if #ids >= max then
    break
  end
  local pending = redis.pcall('XPENDING', stream, group, id, id, 1)
  if pending.err then
    -- NOGROUP and the like go back to the caller unchanged.
    return pending
  end
  local entry = pending[1]
  if entry then
    ids[#ids + 1] = id
    counts[id] = entry[4]
  else
    -- No longer pending, which only a lost update could cause: nothing to deliver.
    redis.call('ZREM', waiting, id)
    redis.call('HDEL', history, id)
  end
end
local claimed = claim_entries(stream, group, consumer, ids, counts, history)
-- Claimed or trimmed away, none of them waits any longer; histories of the claimed stay.
for start = 1, #ids, 100 do
  redis.call('ZREM', waiting, unpack(ids, start, math.min(start + 99, #ids)))
end

-- 2. Expired entries: idle at least the ack timeout and not waiting, in ID order. Waiting
-- entries are passed over, with their idle time reset by a claim by their own holder (JUSTID
-- keeps the delivery count), so that they cannot hide expired entries from later scans.
local expired, skipped, start = {}, 0, '-'
while #expired < max do
  local want = max - #expired
  local rows = redis.pcall('XPENDING', stream, group, 'IDLE', ack_timeout, start, '+',
    string.format('%d', want))
  if rows.err then
    return rows
  end
  for _, row in ipairs(rows) do
    local id = row[1]
    if redis.call('ZSCORE', waiting, id) then
      skipped = skipped + 1
      if #redis.call('XCLAIM', stream, group, row[2], 0, id, 'JUSTID') == 0 then
        -- Trimmed away: Redis 7 dropped it from the pending list; drop the rest of it.
        redis.call('ZREM', waiting, id)
        redis.call('HDEL', history, id)
      end
    else
      expired[#expired + 1] = {id, row[2], row[3], row[4], false}
    end
  end
  if #rows < want or skipped >= skip_cap then
    break
  end
  start = string.format('%d-0', id_offset(rows[#rows][1]) + 1)
end
return {claimed, expired}
