-- Appends one batch to a partition. KEYS: stream, meta. ARGV: encoded envelopes, in order.
-- Returns {first offset, timestamp}. Atomic, so offsets stay contiguous under any number of
-- concurrent writers, and the timestamp never goes below the previous batch's, even if the
-- server clock steps back (see `append_entries` in common.lua).
local first, ts = append_entries(KEYS[1], KEYS[2], ARGV, server_ms())
return {first, ts}
