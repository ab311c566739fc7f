-- The extent of a partition. KEYS: stream, meta. Returns {first offset, end offset, length}.
local stream, meta = KEYS[1], KEYS[2]
local last = end_offset(stream, meta)
local first = first_offset(stream) or last
return {first, last, redis.call('XLEN', stream)}
