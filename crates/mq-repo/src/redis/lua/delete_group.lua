-- Deletes a consumer group with its waiting set and failure histories. KEYS: stream, waiting
-- set, history hash. ARGV: group. Returns 1 if the group existed, else 0.
-- A script because XGROUP DESTROY fails, rather than answering 0, when the stream is missing.
-- The group's other keys go whether or not the group existed: left over from a deleted topic,
-- they would otherwise haunt a group created again under the same name. UNLINK frees them in
-- the background, as a large history hash would block the server.
redis.call('UNLINK', KEYS[2], KEYS[3])
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
return redis.call('XGROUP', 'DESTROY', KEYS[1], ARGV[1])
