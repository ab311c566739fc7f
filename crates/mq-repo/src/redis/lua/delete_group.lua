-- Deletes a consumer group. KEYS: stream. ARGV: group. Returns 1 if it existed, else 0.
-- A script because XGROUP DESTROY fails, rather than answering 0, when the stream is missing.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
return redis.call('XGROUP', 'DESTROY', KEYS[1], ARGV[1])
