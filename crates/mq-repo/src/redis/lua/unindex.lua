-- Removes messages from the schedule index if they still point where the caller saw them.
-- KEYS: index hash. ARGV: the expected entry ("<topic>\n<partition>"), then message ids.
-- A message scheduled again elsewhere meanwhile keeps its new entry. Returns how many went.
local removed = 0
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then
    removed = removed + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return removed
