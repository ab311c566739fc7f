-- Adds messages to a partition's schedule. KEYS: due set, payload hash, then the idempotency
-- key of each message that has one, in order. ARGV: per message its id, due time (ms),
-- encoded envelope and idempotency window in ms (0: no key). An id already scheduled is
-- replaced: ZADD moves it to the new due time and HSET overwrites its envelope. A message
-- whose key is stored is not scheduled; returns {message number, original, ...} for those
-- (see `dedup_original` in common.lua).
local due, payloads = KEYS[1], KEYS[2]
local key = 3
local repeats = {}
for i = 1, #ARGV / 4 do
  local at = (i - 1) * 4 + 1
  local id, when, envelope, window = ARGV[at], ARGV[at + 1], ARGV[at + 2], tonumber(ARGV[at + 3])
  local original = false
  if window > 0 then
    original = dedup_original(KEYS[key])
    if not original then
      dedup_remember(KEYS[key], string.format('s\n%s\n%s', id, when), window)
    end
    key = key + 1
  end
  if original then
    repeats[#repeats + 1] = i
    repeats[#repeats + 1] = original
  else
    redis.call('ZADD', due, when, id)
    redis.call('HSET', payloads, id, envelope)
  end
end
return repeats
