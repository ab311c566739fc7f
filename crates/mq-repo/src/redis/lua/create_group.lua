-- Creates a consumer group. KEYS: stream, waiting set, history hash. ARGV: group, start ID.
-- Returns 1; BUSYGROUP (the group exists) goes back to the caller as an error. A new group has
-- nothing waiting for a retry and no failure history, so leftovers of a group of the same name
-- (its topic deleted without deleting the group first) are dropped here.
local created = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[2], 'MKSTREAM')
if type(created) == 'table' and created.err then
  return created
end
redis.call('UNLINK', KEYS[2], KEYS[3])
return 1
