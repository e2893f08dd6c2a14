"""The Lua scripts of the Redis geo index (``geo_redis``); see its module docstring for the key
layout and why a single primary and a cluster write differently.

A script runs atomically on one Redis node. On a single primary a script may name keys it was
not given (the region keys are derived from the key base), which a cluster forbids: the
cluster scripts touch only the hash-tagged bookkeeping slot.
"""

from __future__ import annotations

__all__ = [
    "ADD_MISSING",
    "CLAIM_MISSING",
    "CLUSTERS",
    "PRUNE",
    "READ_BACK",
    "SET",
    "SET_EACH",
    "SWAP",
]

# Single primary: drop members from one region key unless ``where`` says they are (again) in
# that region, then forget the region when its key is gone. KEYS: region key, regions set,
# where hash. ARGV: region, member...
PRUNE = """
local gone = 0
for i = 2, #ARGV do
  local v = redis.call('HGET', KEYS[3], ARGV[i])
  if not v or string.match(v, '^%S+') ~= ARGV[1] then
    gone = gone + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
end
return gone
"""

# Single primary: one member's move in one round trip, atomically: record the new region and
# exact position, add it to its region key, and drop it from its previous region key if that
# changed. KEYS: where hash, regions set, new region key. ARGV: member, region, where value,
# long, lat, key base (the old region key is derived from it: a single primary only).
SET = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('GEOADD', KEYS[3], ARGV[4], ARGV[5], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
if old then
  local previous = string.match(old, '^%S+')
  if previous ~= ARGV[2] then
    local old_key = ARGV[6] .. ':r:' .. previous
    redis.call('ZREM', old_key, ARGV[1])
    if redis.call('EXISTS', old_key) == 0 then
      redis.call('SREM', KEYS[2], previous)
    end
  end
end
return 1
"""

# Single primary: ``SET`` for each of a batch of moves, in order (two moves of one member: the
# last one wins), in one round trip. A move whose GEOADD fails (a reply error) changes nothing
# and reports its error text; the others go on. KEYS: where hash, regions set. ARGV: key base,
# then member, where value, long, lat for each move (the region is the where value's first
# word). Returns 1 or an error text per move.
SET_EACH = """
local out = {}
for i = 2, #ARGV, 4 do
  local member, value = ARGV[i], ARGV[i + 1]
  local region = string.match(value, '^%S+')
  local added = redis.pcall('GEOADD', ARGV[1] .. ':r:' .. region, ARGV[i + 2], ARGV[i + 3], member)
  if type(added) == 'table' and added.err then
    out[#out + 1] = added.err
  else
    local old = redis.call('HGET', KEYS[1], member)
    redis.call('HSET', KEYS[1], member, value)
    redis.call('SADD', KEYS[2], region)
    if old then
      local previous = string.match(old, '^%S+')
      if previous ~= region then
        local old_key = ARGV[1] .. ':r:' .. previous
        redis.call('ZREM', old_key, member)
        if redis.call('EXISTS', old_key) == 0 then
          redis.call('SREM', KEYS[2], previous)
        end
      end
    end
    out[#out + 1] = 1
  end
end
return out
"""

# Redis Cluster, bookkeeping slot (a cluster's MULTI is costly in redis-py; a script is one
# command). Swap members' ``where`` values and return the previous ones (nil: none).
# KEYS: where hash. ARGV: member1, value1, member2, value2, ... (an empty value removes).
SWAP = """
local old = {}
for i = 1, #ARGV, 2 do
  old[#old + 1] = redis.call('HGET', KEYS[1], ARGV[i])
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return old
"""

# Redis Cluster, bookkeeping slot: record regions just added to, then read members' values.
# KEYS: where hash, regions set. ARGV: n, region1 .. region_n, member...
READ_BACK = """
local n = tonumber(ARGV[1])
if n > 0 then
  redis.call('SADD', KEYS[2], unpack(ARGV, 2, n + 1))
end
return redis.call('HMGET', KEYS[1], unpack(ARGV, n + 2))
"""

# Single primary: add members that have no ``where`` entry yet (a refill; a member that has one
# was set meanwhile, by a newer write). KEYS: where hash, regions set. ARGV: key base, then
# member, region, where value, long, lat for each member. Returns how many were added.
ADD_MISSING = """
local added = 0
for i = 2, #ARGV, 5 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 2]) == 1 then
    redis.call('GEOADD', ARGV[1] .. ':r:' .. ARGV[i + 1], ARGV[i + 3], ARGV[i + 4], ARGV[i])
    redis.call('SADD', KEYS[2], ARGV[i + 1])
    added = added + 1
  end
end
return added
"""

# Redis Cluster, bookkeeping slot: record ``where`` values for members that have none yet.
# KEYS: where hash. ARGV: member1, value1, member2, value2, ... Returns 1 per member recorded,
# 0 per member that already had one (the region keys are then settled like any write).
CLAIM_MISSING = """
local set = {}
for i = 1, #ARGV, 2 do
  set[#set + 1] = redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
return set
"""

# Read, any layout (one key): count the members of one region key inside a rectangle by their
# geohash cell, so that a whole city's members never leave Redis one by one. The cell is the
# (row, column) of the grid of rows x columns cells, computed as ``domain.cells`` quantises.
# Members come from GEOSEARCH BYBOX (``search`` = 1: the rectangle is a small part of the
# region) or from the whole key (a region mostly inside the rectangle: no search), each with
# its GEO score, decoded here as Redis decodes it (no coordinate text per member).
# KEYS: region key. ARGV: search, search centre long, lat, box width, height (metres), then
# south, west, north, east, rows, columns. Returns row, column, count, sum of lat, sum of long
# per cell (sums as text: Redis would truncate a Lua number to an integer).
CLUSTERS = """
local south, west = tonumber(ARGV[6]), tonumber(ARGV[7])
local north, east = tonumber(ARGV[8]), tonumber(ARGV[9])
local rows, cols = tonumber(ARGV[10]), tonumber(ARGV[11])
local cells, order = {}, {}
local floor, min, max = math.floor, math.min, math.max
local function add(lat, long)
  if lat >= south and lat <= north and long >= west and long <= east then
    local row = max(min(floor((lat + 90.0) / 180.0 * rows), rows - 1), 0)
    local col = max(min(floor((long + 180.0) / 360.0 * cols), cols - 1), 0)
    local key = row * cols + col
    local acc = cells[key]
    if acc == nil then
      cells[key] = {row, col, 1, lat, long}
      order[#order + 1] = key
    else
      acc[3] = acc[3] + 1
      acc[4] = acc[4] + lat
      acc[5] = acc[5] + long
    end
  end
end
-- Redis GEO scores: 26 latitude bits (even positions) and 26 longitude bits (odd), over
-- [-85.05112878, 85.05112878] and [-180, 180]; a position is its cell's centre.
local band, bor, rshift = bit.band, bit.bor, bit.rshift
local function squash(x)
  x = band(x, 0x55555555)
  x = band(bor(x, rshift(x, 1)), 0x33333333)
  x = band(bor(x, rshift(x, 2)), 0x0F0F0F0F)
  x = band(bor(x, rshift(x, 4)), 0x00FF00FF)
  return band(bor(x, rshift(x, 8)), 0x0000FFFF)
end
local half = 67108864
local lat_step = 170.10225756 / half
local long_step = 360.0 / half
local function decoded(s)
  local hi = floor(s / half)
  local lo = s - hi * half
  local ilat = squash(hi) * 8192 + squash(lo)
  local ilong = squash(rshift(hi, 1)) * 8192 + squash(rshift(lo, 1))
  add(-85.05112878 + (ilat + 0.5) * lat_step, -180.0 + (ilong + 0.5) * long_step)
end
if ARGV[1] == '1' then
  local found = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[2], ARGV[3],
    'BYBOX', ARGV[4], ARGV[5], 'm', 'WITHHASH')
  for i = 1, #found do
    decoded(found[i][2])
  end
else
  local scored = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 2, #scored, 2 do
    decoded(tonumber(scored[i]))
  end
end
local out = {}
for _, key in ipairs(order) do
  local acc = cells[key]
  out[#out + 1] = acc[1]
  out[#out + 1] = acc[2]
  out[#out + 1] = acc[3]
  out[#out + 1] = string.format('%.17g', acc[4])
  out[#out + 1] = string.format('%.17g', acc[5])
end
return out
"""
