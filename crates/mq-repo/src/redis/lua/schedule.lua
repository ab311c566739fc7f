-- Adds messages to a partition's schedule. KEYS: due set, payload hash. ARGV: triples of
-- message id, due time (ms), encoded envelope. An id already scheduled is replaced: ZADD moves
-- it to the new due time and HSET overwrites its envelope. Returns how many triples it took.
local due, payloads = KEYS[1], KEYS[2]
for i = 1, #ARGV, 3 do
  redis.call('ZADD', due, ARGV[i + 1], ARGV[i])
  redis.call('HSET', payloads, ARGV[i], ARGV[i + 2])
end
return #ARGV / 3
