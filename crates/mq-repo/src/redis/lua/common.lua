-- Helpers shared by every mq script; scripts.rs prepends this file to each of them.
-- Offset N is stream entry ID "N-1"; "N-0" sorts just before it (see keys.rs).

-- The offset of an entry ID (its millisecond part).
local function id_offset(id)
  return tonumber(string.match(id, '^(%d+)-'))
end

-- The value of a field in an entry's flat field list, or false.
local function entry_field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then
      return fields[i + 1]
    end
  end
  return false
end

-- The offset of the oldest stored entry, or nil when the stream is empty or missing.
local function first_offset(stream)
  local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if #oldest == 0 then
    return nil
  end
  return id_offset(oldest[1][1])
end

-- The offset the next append gets. Normally the meta hash's `next`. Should that hash be
-- missing while the stream exists (created empty by XGROUP CREATE MKSTREAM, or the hash lost
-- to an eviction policy or a stray DEL), the stream's last generated ID, which survives
-- trimming, keeps offsets increasing.
local function end_offset(stream, meta)
  local next = tonumber(redis.call('HGET', meta, 'next'))
  if next then
    return next
  end
  if redis.call('EXISTS', stream) == 0 then
    return 0
  end
  local last = entry_field(redis.call('XINFO', 'STREAM', stream), 'last-generated-id')
  local ms, seq = string.match(last or '', '^(%d+)-(%d+)$')
  if not ms or tonumber(seq) == 0 then
    return tonumber(ms) or 0
  end
  return tonumber(ms) + 1
end

-- The server's clock in milliseconds (TIME: seconds and microseconds).
local function server_ms()
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end

-- The partition's epoch: an id its meta hash gets when it is first written (the server's time
-- in microseconds, as text), kept while the partition exists, so a topic deleted and created
-- again under the same name is told apart from the one before. Created if missing.
local function partition_epoch(meta)
  local epoch = redis.call('HGET', meta, 'ep')
  if not epoch then
    local now = redis.call('TIME')
    epoch = now[1] .. string.format('%06d', tonumber(now[2]))
    redis.call('HSET', meta, 'ep', epoch)
  end
  return epoch
end

-- Appends records to a partition as one batch, in order: the next offsets (from `end_offset`)
-- and one timestamp, `now` but never below the previous batch's, so timestamps never decrease
-- even if the server clock steps back. Each record is {envelope, id, dedup key or false,
-- window ms}. A record whose idempotency key is stored (see `dedup_remember`) is not appended:
-- its place in `repeats` holds what the key's first record became, and the next record takes
-- the offset it did not. Returns the first offset handed out, the timestamp, and `repeats`
-- as a flat list {record number, original, ...}. Callers run it inside their script, so
-- offsets stay contiguous under any number of concurrent writers; `append.lua`, `fire.lua`
-- and `commit_half.lua` share it so that a fired or committed message is stored exactly as an
-- appended one. `floor` (or nil) is the lowest offset the caller may be handed: past offsets
-- it knows this partition handed out already, in epoch `epoch` (see `partition_epoch`); a
-- floor of another epoch (the topic was deleted and created again) does not apply. Also
-- returns the offset the partition would have handed out instead of `floor`, or -1.
local function append_records(stream, meta, records, now, floor, epoch)
  local ts = now
  local last_ts = tonumber(redis.call('HGET', meta, 'ts'))
  if last_ts and last_ts > ts then
    ts = last_ts
  end
  local ts_text = string.format('%d', ts)
  local first = end_offset(stream, meta)
  local rolled = -1
  if floor and floor > first and epoch == partition_epoch(meta) then
    -- Offsets up to `floor` were handed out before by this very partition (same epoch), yet
    -- it would hand them out again: writes were lost, as a failover to a replica that lagged
    -- or a restart without the last writes loses them. Skip past them, never reuse one, and
    -- record it for monitoring (`stats.lua`).
    redis.call('HSET', meta, 'rb_at', string.format('%d', now), 'rb_from', string.format('%d', first),
      'rb_to', string.format('%d', floor))
    rolled = first
    first = floor
  end
  local next = first
  local repeats = {}
  for i, record in ipairs(records) do
    local original = false
    if record[3] then
      -- One command checks and claims the key: SET … NX GET answers the stored value and
      -- leaves it, or stores ours (this record's offset is `next`) and answers nil.
      local stored = string.format('a\n%s\n%d\n%s', record[2], next, ts_text)
      original = redis.call('SET', record[3], stored, 'NX', 'GET', 'PX', record[4])
    end
    if original then
      repeats[#repeats + 1] = i
      repeats[#repeats + 1] = original
    else
      redis.call('XADD', stream, string.format('%d-1', next), 'ts', ts_text, 'e', record[1])
      next = next + 1
    end
  end
  if next > first then
    redis.call('HSET', meta, 'next', string.format('%d', next), 'ts', ts_text)
  end
  return first, ts, repeats, rolled
end

-- `append_records` for envelopes without idempotency keys; returns the first offset and the
-- timestamp.
local function append_entries(stream, meta, envelopes, now, floor, epoch)
  local records = {}
  for i, envelope in ipairs(envelopes) do
    records[i] = {envelope, '', false, 0}
  end
  local first, ts = append_records(stream, meta, records, now, floor, epoch)
  return first, ts
end

-- What idempotency key `key`'s first record became (`a`ppended, `s`cheduled or `h`eld, then
-- its fields, one per line), or false when the key is not stored.
local function dedup_original(key)
  return redis.call('GET', key)
end

-- Remembers for `window` ms that idempotency key `key`'s first record became `original`.
local function dedup_remember(key, original, window)
  redis.call('SET', key, original, 'PX', window)
end

-- Whether string `a` sorts after `b` byte by byte, as Redis orders sorted-set members of equal
-- score. Lua's own `<` compares by the server's locale (strcoll), which need not be byte order.
local function bytes_after(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x > y
    end
  end
  return #a > #b
end

-- Claims pending entries for `consumer` at once (XCLAIM with min idle 0), in chunks, and
-- returns them as a flat list {id, delivery count, ts, envelope, id, ...} in the order of
-- `ids`. `counts` maps each ID to its delivery count before the claim. Entries trimmed away
-- meanwhile are dropped from the pending list with their failure history in `history`, and are
-- not returned.
local function claim_entries(stream, group, consumer, ids, counts, history)
  local out = {}
  -- XCLAIM in chunks: unpack() of thousands of IDs would overflow Lua's C stack.
  local chunk = 100
  for start = 1, #ids, chunk do
    local batch = {unpack(ids, start, math.min(start + chunk - 1, #ids))}
    local claimed = redis.call('XCLAIM', stream, group, consumer, 0, unpack(batch))
    local returned = {}
    for _, entry in ipairs(claimed) do
      -- Older servers answer a trimmed entry with nil (false here) or an entry without fields.
      if type(entry) == 'table' and type(entry[2]) == 'table' then
        local id = entry[1]
        returned[id] = true
        -- XCLAIM raised the delivery count by one; XPENDING had the count before that.
        out[#out + 1] = id
        out[#out + 1] = (counts[id] or 0) + 1
        out[#out + 1] = entry_field(entry[2], 'ts') or '0'
        out[#out + 1] = entry_field(entry[2], 'e') or ''
      end
    end
    for _, id in ipairs(batch) do
      if not returned[id] then
        -- Redis 7 drops a trimmed entry from the pending list itself; older servers keep it
        -- (now held by `consumer`), so drop it here. A no-op where it is already gone.
        redis.call('XACK', stream, group, id)
        redis.call('HDEL', history, id)
      end
    end
  end
  return out
end

-- The pending entry of `id` in `group` as XPENDING lists it ({id, consumer, idle ms, delivery
-- count}), or nil when it is not pending. The second result is true when the group or its
-- stream does not exist (NOGROUP); any other error is raised.
local function pending_entry(stream, group, id)
  local pending = redis.pcall('XPENDING', stream, group, id, id, 1)
  if pending.err then
    if string.sub(pending.err, 1, 7) == 'NOGROUP' then
      return nil, true
    end
    error(pending)
  end
  return pending[1], false
end
