-- The extent of a partition. KEYS: stream, meta. Returns {first offset, end offset, length,
-- the last offset rollback: when (ms, or -1 for none), from, to; and the partition's epoch
-- ("" while it has none)}.
local stream, meta = KEYS[1], KEYS[2]
local last = end_offset(stream, meta)
local first = first_offset(stream) or last
local rb = redis.call('HMGET', meta, 'rb_at', 'rb_from', 'rb_to', 'ep')
return {first, last, redis.call('XLEN', stream), tonumber(rb[1]) or -1, tonumber(rb[2]) or 0,
  tonumber(rb[3]) or 0, rb[4] or ''}
