-- Appends one batch to a partition. KEYS: stream, meta, then the idempotency key of each
-- record that has one, in record order. ARGV: the floor and its epoch (the lowest offset to
-- hand out, see `append_records` in common.lua; 0 and "" when none is known), the record
-- count, then per record its encoded envelope, message id and idempotency window in ms (0: no
-- key). Returns {first offset, timestamp, epoch, rolled back from (-1: not), record number,
-- original, ...}: records with a stored key are not appended, the others take consecutive
-- offsets from the first. Atomic, so offsets stay contiguous under any number of concurrent
-- writers, and the timestamp never goes below the previous batch's, even if the server clock
-- steps back.
local floor, epoch = tonumber(ARGV[1]), ARGV[2]
local n = tonumber(ARGV[3])
local records = {}
local key = 3
for i = 1, n do
  local at = 4 + (i - 1) * 3
  local window = tonumber(ARGV[at + 2])
  local dedup = false
  if window > 0 then
    dedup = KEYS[key]
    key = key + 1
  end
  records[i] = {ARGV[at], ARGV[at + 1], dedup, window}
end
local first, ts, repeats, rolled = append_records(KEYS[1], KEYS[2], records, server_ms(), floor, epoch)
local reply = {first, ts, partition_epoch(KEYS[2]), rolled}
for _, item in ipairs(repeats) do
  reply[#reply + 1] = item
end
return reply
