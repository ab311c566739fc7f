-- Moves due messages from a partition's schedule into its stream. KEYS: due set, payload hash,
-- stream, meta. ARGV: the floor and its epoch (see `append_records` in common.lua), then
-- message ids. An id is fired only if it is scheduled and due by the
-- server's clock; others (cancelled, fired already, unknown, not yet due) are skipped. The
-- fired envelopes are appended as one batch exactly as `append.lua` appends, so offsets stay
-- contiguous with ordinary appends. Being one script, a message is removed and appended in one
-- step: however many callers fire it at once, it is appended exactly once.
-- Returns {id, due, offset, timestamp, id, ...} in append order.
local due, payloads, stream, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = server_ms()
local fired, envelopes = {}, {}
local floor, epoch = tonumber(ARGV[1]), ARGV[2]
for i = 3, #ARGV do
  local id = ARGV[i]
  local score = tonumber(redis.call('ZSCORE', due, id))
  if score and score <= now then
    redis.call('ZREM', due, id)
    local envelope = redis.call('HGET', payloads, id)
    redis.call('HDEL', payloads, id)
    -- A member without its envelope cannot be delivered; removing it is all there is to do.
    if envelope then
      envelopes[#envelopes + 1] = envelope
      fired[#fired + 1] = {id, score}
    end
  end
end
if #envelopes == 0 then
  return {}
end
local first, ts = append_entries(stream, meta, envelopes, now, floor, epoch)
local reply = {}
for i, entry in ipairs(fired) do
  reply[#reply + 1] = entry[1]
  reply[#reply + 1] = entry[2]
  reply[#reply + 1] = first + i - 1
  reply[#reply + 1] = ts
end
return reply
