-- Holds the half message of a transaction. KEYS: half-message hash, then its idempotency key
-- if it has one. ARGV: message id, encoded envelope, idempotency window in ms (0: no key).
-- A message of the same id is replaced. Returns false, or what the key's first record became
-- when the key is stored (then nothing is held; see `dedup_original` in common.lua).
local half, id, envelope, window = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
if window > 0 then
  local original = dedup_original(KEYS[2])
  if original then
    return original
  end
  dedup_remember(KEYS[2], string.format('h\n%s', id), window)
end
redis.call('HSET', half, id, envelope)
return false
