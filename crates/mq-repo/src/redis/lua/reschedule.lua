-- Moves a scheduled message to a new due time. KEYS: due set. ARGV: message id, due time (ms).
-- Returns 1 if it was scheduled, else 0 (and adds nothing). Not `ZADD XX CH`: that answers 0
-- when the due time does not change, which would read as "not scheduled".
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[1])
return 1
