-- Records failed deliveries: each entry still pending with the delivery count the caller saw,
-- and in flight (not already waiting), waits for a retry, keeping its holder and delivery
-- count, and gets a line appended to its failure history.
-- KEYS: stream, waiting set, history hash. ARGV: group, then per failure five values: entry ID,
-- delivery count, failed-at ms, retry-at ms (the three as decimal integers), reason.
-- Returns how many were recorded; a repeated ID counts once (its first failure is used); 0
-- when the group or the stream does not exist.
--
-- A history value is one line per failed delivery, each
-- `{"n":<delivery count>,"at":<failed-at ms>,"c":<holder>,"r":<reason>}` and "\n". The numbers
-- are the caller's decimal text, not cjson's (which keeps only 14 significant digits); cjson
-- encodes the strings, escaping any newline in them, so lines split cleanly.
local stream, waiting, history, group = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local recorded, seen = 0, {}
for i = 2, #ARGV - 4, 5 do
  local id, count, failed_at, retry_at, reason =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if not seen[id] then
    seen[id] = true
    local entry, no_group = pending_entry(stream, group, id)
    if no_group then
      return 0
    end
    if entry and tostring(entry[4]) == count and not redis.call('ZSCORE', waiting, id) then
      local holder = entry[2]
      -- Claimed by its own holder: JUSTID leaves the delivery count alone and the idle time
      -- restarts, so the scan for expired entries does not meet it before the ack timeout.
      -- Redis 7 drops an entry trimmed away meanwhile from the pending list instead.
      local kept = redis.call('XCLAIM', stream, group, holder, 0, id, 'JUSTID')
      if #kept == 0 then
        redis.call('HDEL', history, id)
      else
        redis.call('ZADD', waiting, retry_at, id)
        local line = '{"n":' .. count .. ',"at":' .. failed_at .. ',"c":' .. cjson.encode(holder)
          .. ',"r":' .. cjson.encode(reason) .. '}\n'
        redis.call('HSET', history, id, (redis.call('HGET', history, id) or '') .. line)
        recorded = recorded + 1
      end
    end
  end
end
return recorded
