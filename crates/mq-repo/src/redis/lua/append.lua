-- Appends one batch to a partition. KEYS: stream, meta. ARGV: encoded envelopes, in order.
-- Returns {first offset, timestamp}. Atomic, so offsets stay contiguous under any number of
-- concurrent writers, and the timestamp never goes below the previous batch's, even if the
-- server clock steps back.
local stream, meta = KEYS[1], KEYS[2]
local now = redis.call('TIME')
local ts = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local last_ts = tonumber(redis.call('HGET', meta, 'ts'))
if last_ts and last_ts > ts then
  ts = last_ts
end
local ts_text = string.format('%d', ts)
local first = end_offset(stream, meta)
local next = first
for i = 1, #ARGV do
  redis.call('XADD', stream, string.format('%d-1', next), 'ts', ts_text, 'e', ARGV[i])
  next = next + 1
end
redis.call('HSET', meta, 'next', string.format('%d', next), 'ts', ts_text)
return {first, ts}
