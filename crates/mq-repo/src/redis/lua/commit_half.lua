-- Commits a transaction's half message: takes it from the partition's half-message hash and
-- appends it to the stream exactly as `append.lua` appends (`append_entries`), so it continues
-- the partition's offsets with no gap. KEYS: stream, meta, half-message hash. ARGV: message id,
-- the floor and its epoch (see `append_records` in common.lua).
-- Being one script, the message is removed and appended in one step: however many callers
-- commit it at once, it is appended exactly once, and a racing rollback wins or loses whole.
-- Returns {offset, timestamp}, or {} if no such half message is held.
local stream, meta, half = KEYS[1], KEYS[2], KEYS[3]
local id = ARGV[1]
local envelope = redis.call('HGET', half, id)
if not envelope then
  return {}
end
redis.call('HDEL', half, id)
local offset, ts = append_entries(stream, meta, {envelope}, server_ms(), tonumber(ARGV[2]), ARGV[3])
return {offset, ts}
