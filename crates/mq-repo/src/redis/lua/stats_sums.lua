-- The sum of one counter series over a time range. KEYS: the series' hash (bucket start in
-- seconds -> count). ARGV: from, to (bucket starts, inclusive). Returns the sum of the counts of
-- the buckets starting in [from, to]; 0 for a missing series.
--
-- Summing here sends one integer back instead of the whole hash (a day of minute buckets is
-- some 1,500 fields). Lua adds in doubles, exact up to 2^53, far beyond any real count.
local from, to = tonumber(ARGV[1]), tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local sum = 0
for i = 1, #all, 2 do
  local bucket = tonumber(all[i])
  if bucket and bucket >= from and bucket <= to then
    sum = sum + tonumber(all[i + 1])
  end
end
return string.format('%.0f', sum)
