-- A page of a partition's schedule by (due time, message id). KEYS: due set, payload hash.
-- ARGV: limit, then optionally the cursor's due time (ms) and message id: the page starts
-- after it. Returns {id, due, envelope or false, id, ...}.
--
-- The start is a rank: members due before the cursor's time, plus those due at that very time
-- whose id sorts at or before the cursor's (equal scores order members byte by byte), found by
-- binary search over ranks. So a cursor whose message has since fired or been cancelled still
-- resumes at the right place, and a page costs O(log n) however many share a due time.
local due, payloads = KEYS[1], KEYS[2]
local limit = tonumber(ARGV[1])
local start = 0
if ARGV[2] then
  local score, after = ARGV[2], ARGV[3]
  local lo = redis.call('ZCOUNT', due, '-inf', '(' .. score)
  local hi = redis.call('ZCOUNT', due, '-inf', score)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if bytes_after(redis.call('ZRANGE', due, mid, mid)[1], after) then
      hi = mid
    else
      lo = mid + 1
    end
  end
  start = lo
end
local stop = string.format('%d', start + limit - 1)
local page = redis.call('ZRANGE', due, start, stop, 'WITHSCORES')
local reply = {}
for i = 1, #page, 2 do
  reply[#reply + 1] = page[i]
  reply[#reply + 1] = page[i + 1]
  reply[#reply + 1] = redis.call('HGET', payloads, page[i])
end
return reply
