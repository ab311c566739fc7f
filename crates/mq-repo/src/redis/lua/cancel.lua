-- Removes a message from a partition's schedule. KEYS: due set, payload hash. ARGV: message id.
-- Returns 1 if it was scheduled, else 0. One script, so a concurrent fire either finds it
-- (and this answers 0) or does not (and this answers 1), never both.
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return removed
