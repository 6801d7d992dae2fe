"""The Lua scripts of the rank index; every script touches the keys of one board period (one hash tag).

Times come from Redis itself (`TIME`, in milliseconds), so app servers' clocks never matter.
Redis 7 replicates a script's effects, not the script, so reading `TIME` before writing is allowed.

Every board-period script takes, as ARGV[1], when the period's keys expire (ms since the epoch; 0 for
all time). Past it the script does nothing and answers "cold", so a late write (a void of an archived
session) never recreates part of an index that expired; every key it writes expires then too.
"""

_NOW = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

_PERIOD = (
    _NOW
    + """
local EXPIRE_AT = tonumber(table.remove(ARGV, 1))
local function keep(...)
  if EXPIRE_AT > 0 then
    for _, key in ipairs({...}) do redis.call('PEXPIREAT', key, EXPIRE_AT) end
  end
end
if EXPIRE_AT > 0 and now_ms() >= EXPIRE_AT then return 'cold' end
"""
)

# complete(ready, inflight, gen, bound): is the index complete right now?
# A change announced longer ago than the bound and still not published may have committed and
# will never reach the index: that is a loss. The first script to see it drops `ready` and bumps
# the generation, so a rebuild that started earlier cannot set `ready` again (see SWAP_IN).
_COMPLETE = (
    _PERIOD
    + """
local function drop_stale(inflight, gen, ready, bound)
  local oldest = redis.call('ZRANGE', inflight, 0, 0, 'WITHSCORES')
  if oldest[1] == nil then return false end
  local cutoff = now_ms() - tonumber(bound)
  if tonumber(oldest[2]) > cutoff then return false end
  redis.call('ZREMRANGEBYSCORE', inflight, '-inf', cutoff)
  redis.call('DEL', ready)
  redis.call('INCR', gen)
  keep(gen)
  return true
end
local function complete(ready, inflight, gen, bound)
  if redis.call('EXISTS', ready) == 0 then return false end
  return not drop_stale(inflight, gen, ready, bound)
end
"""
)

# z holds the rank value (greater is better); h "version|value|sessions|username", "version|x" once removed.
_APPLY_FUNCTION = """
local function apply(z, h, uid, version, total, payload)
  local current = redis.call('HGET', h, uid)
  if current and tonumber(string.match(current, '^(%d+)|')) >= tonumber(version) then
    return 0
  end
  if total == '' then
    redis.call('ZREM', z, uid)
    redis.call('HSET', h, uid, version .. '|x')
  else
    redis.call('ZADD', z, total, uid)
    redis.call('HSET', h, uid, version .. '|' .. payload)
  end
  return 1
end
"""

# KEYS: inflight   ARGV: token
# Announces a change before its COMMIT; the token's score is when.
ANNOUNCE = (
    _PERIOD
    + """
redis.call('ZADD', KEYS[1], now_ms(), ARGV[1])
keep(KEYS[1])
return 1
"""
)

# KEYS: inflight   ARGV: token
# A change announced, then rolled back before its COMMIT (it was refused): it will never be published.
WITHDRAW = (
    _PERIOD
    + """
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""
)

# KEYS: ready gen inflight   ARGV: token*
# A change may have committed without reaching the index: stop trusting it and outdate rebuilds.
MARK_INCOMPLETE = (
    _PERIOD
    + """
redis.call('DEL', KEYS[1])
redis.call('INCR', KEYS[2])
keep(KEYS[2])
if #ARGV > 0 then redis.call('ZREM', KEYS[3], unpack(ARGV)) end
return 1
"""
)

# KEYS: ready inflight gen   ARGV: bound  ->  1 if the index is complete
SWEEP = (
    _COMPLETE
    + """
return complete(KEYS[1], KEYS[2], KEYS[3], ARGV[1]) and 1 or 0
"""
)

# KEYS: z h rebuilding z:next h:next top top:min top:ids top:gen ready inflight gen
# ARGV: token bound (uid version rank-value payload)*
#   ->  {complete, players above the last one, players} or {0}
APPLY_LIVE = (
    _COMPLETE
    + _APPLY_FUNCTION
    + """
local rebuilding = redis.call('EXISTS', KEYS[3]) == 1
local invalidate = false
local min = redis.call('GET', KEYS[7])
for i = 3, #ARGV, 4 do
  local uid, version, total, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if rebuilding then apply(KEYS[4], KEYS[5], uid, version, total, payload) end
  if apply(KEYS[1], KEYS[2], uid, version, total, payload) == 1 then
    if (not min) or min == '' or total == '' or tonumber(total) >= tonumber(min)
       or redis.call('SISMEMBER', KEYS[8], uid) == 1 then
      invalidate = true
    end
  end
end
if invalidate then
  redis.call('DEL', KEYS[6], KEYS[7], KEYS[8])
  redis.call('INCR', KEYS[9])
end
keep(KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[9])
-- The change has reached the index: it is no longer in flight.
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[11], ARGV[1]) end
-- The last player's placement, read in the same call: a submit needs it right after its write.
local total = ARGV[#ARGV - 1]
if total == '' or not complete(KEYS[10], KEYS[11], KEYS[12], ARGV[2]) then return {0} end
return {1, redis.call('ZCOUNT', KEYS[1], '(' .. total, '+inf'), redis.call('ZCARD', KEYS[1])}
"""
)

# KEYS: z h top top:min top:ids top:gen   ARGV: (uid version total payload)*
# Repair: the database's state, written whatever version the index holds. The caller holds the
# players' row locks, so no submit of theirs commits between its read and this write.
FORCE = (
    _PERIOD
    + """
for i = 1, #ARGV, 4 do
  local uid, version, total, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if total == '' then
    redis.call('ZREM', KEYS[1], uid)
    redis.call('HSET', KEYS[2], uid, version .. '|x')
  else
    redis.call('ZADD', KEYS[1], total, uid)
    redis.call('HSET', KEYS[2], uid, version .. '|' .. payload)
  end
end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
redis.call('INCR', KEYS[6])
keep(KEYS[1], KEYS[2], KEYS[6])
return 1
"""
)

# KEYS: lock rebuilding z:next h:next gen   ARGV: token lease-ms
#   ->  false if another rebuild holds the lock, else the generation before the snapshot
BEGIN_REBUILD = (
    _PERIOD
    + """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
-- Route live writes to the fresh keys too *before* the snapshot is read.
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('UNLINK', KEYS[3], KEYS[4])
return redis.call('GET', KEYS[5]) or '0'
"""
)

_HOLDS_LEASE = """
local function holds_lease(lock, rebuilding, token, lease)
  if redis.call('GET', lock) ~= token or redis.call('GET', rebuilding) ~= token then return false end
  redis.call('PEXPIRE', lock, lease)
  redis.call('PEXPIRE', rebuilding, lease)
  return true
end
"""

# KEYS: z:next h:next lock rebuilding   ARGV: token lease-ms (uid version total payload)*
# Writes one batch and extends the lease; 0 if the lease was lost (then live writes may have
# stopped reaching the fresh keys, and this rebuild must never be swapped in).
APPLY_REBUILD = (
    _PERIOD
    + _APPLY_FUNCTION
    + _HOLDS_LEASE
    + """
if not holds_lease(KEYS[3], KEYS[4], ARGV[1], ARGV[2]) then return 0 end
for i = 3, #ARGV, 4 do apply(KEYS[1], KEYS[2], ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]) end
keep(KEYS[1], KEYS[2])
return 1
"""
)

# KEYS: lock rebuilding   ARGV: token lease-ms  ->  1 while the lease is held
RENEW_LEASE = (
    _PERIOD
    + _HOLDS_LEASE
    + """
return holds_lease(KEYS[1], KEYS[2], ARGV[1], ARGV[2]) and 1 or 0
"""
)

# KEYS: z h z:next h:next ready rebuilding top top:min top:ids top:gen lock gen inflight
# ARGV: token ready-value generation-seen bound
#   ->  {1, players} swapped in; {0, reason} refused ("lease" lost or "outdated" by a loss)
# The old keys are UNLINKed first: freeing a million members happens in the background, where a
# RENAME over them would free them inline and stall Redis for every client.
SWAP_IN = (
    _COMPLETE
    + """
if redis.call('GET', KEYS[11]) ~= ARGV[1] or redis.call('GET', KEYS[6]) ~= ARGV[1] then
  return {0, 'lease'}
end
drop_stale(KEYS[13], KEYS[12], KEYS[5], ARGV[4])
if (redis.call('GET', KEYS[12]) or '0') ~= ARGV[3] then
  -- A change was lost after this rebuild's snapshot may have been read: it may miss it.
  redis.call('UNLINK', KEYS[3], KEYS[4])
  redis.call('DEL', KEYS[11], KEYS[6])
  return {0, 'outdated'}
end
redis.call('UNLINK', KEYS[1], KEYS[2])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('RENAME', KEYS[3], KEYS[1]) end
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('RENAME', KEYS[4], KEYS[2]) end
redis.call('SET', KEYS[5], ARGV[2])
redis.call('DEL', KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[11])
redis.call('INCR', KEYS[10])
keep(KEYS[1], KEYS[2], KEYS[5], KEYS[10])
return {1, redis.call('ZCARD', KEYS[1])}
"""
)

# KEYS: lock rebuilding z:next h:next   ARGV: token   (a rebuild that failed gives its lease back)
RELEASE = (
    _PERIOD
    + """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
  redis.call('UNLINK', KEYS[3], KEYS[4])
end
return 1
"""
)

# KEYS: z h ready inflight gen   ARGV: uid bound  ->  {complete, entry or false, players above, players}
READ_STANDING = (
    _COMPLETE
    + """
if not complete(KEYS[3], KEYS[4], KEYS[5], ARGV[2]) then return {0} end
local players = redis.call('ZCARD', KEYS[1])
local rank_value = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not rank_value then return {1, false, 0, players} end
local entry = redis.call('HGET', KEYS[2], ARGV[1])
return {1, entry, redis.call('ZCOUNT', KEYS[1], '(' .. rank_value, '+inf'), players}
"""
)

# KEYS: z ready inflight gen   ARGV: bound rank-value*  ->  {complete, players, players above each value...}
READ_RANKS = (
    _COMPLETE
    + """
if not complete(KEYS[2], KEYS[3], KEYS[4], ARGV[1]) then return {0} end
local result = {1, redis.call('ZCARD', KEYS[1])}
for i = 2, #ARGV do result[i + 1] = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[i], '+inf') end
return result
"""
)

# KEYS: z ready inflight gen   ARGV: total uid bound  ->  {complete, players above, players counting this one}
READ_PLACEMENT = (
    _COMPLETE
    + """
if not complete(KEYS[2], KEYS[3], KEYS[4], ARGV[3]) then return {0} end
local players = redis.call('ZCARD', KEYS[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then players = players + 1 end
return {1, redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf'), players}
"""
)

# KEYS: z ready top top:gen inflight gen   ARGV: bound form ("rows" or "body")
#   ->  {complete, the cached form or false, fill generation, players}
READ_TOP = (
    _COMPLETE
    + """
if not complete(KEYS[2], KEYS[5], KEYS[6], ARGV[1]) then return {0} end
local cached = redis.call('HGET', KEYS[3], ARGV[2])
return {1, cached, redis.call('GET', KEYS[4]) or '0', redis.call('ZCARD', KEYS[1])}
"""
)

# KEYS: stats   ARGV: hits misses   (counted by each process, sent now and then)
COUNT_TOP_LOOKUPS = (
    _PERIOD
    + """
redis.call('HINCRBY', KEYS[1], 'top_hits', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'top_misses', ARGV[2])
keep(KEYS[1])
return 1
"""
)

# KEYS: top top:min top:ids top:gen   ARGV: generation-seen ttl rows min body uid*
# Stores the listing (its rows, and its ready-to-send body) only if no write invalidated it since
# it was read.
FILL_TOP = (
    _PERIOD
    + """
if (redis.call('GET', KEYS[4]) or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'rows', ARGV[3], 'body', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[2])
redis.call('DEL', KEYS[3])
if #ARGV > 5 then redis.call('SADD', KEYS[3], unpack(ARGV, 6)) end
redis.call('EXPIRE', KEYS[3], ARGV[2])
return 1
"""
)

# KEYS: epoch  ->  milliseconds since this Redis's data began (0 if it begins now)
EPOCH_AGE = (
    _NOW
    + """
local now = now_ms()
redis.call('SET', KEYS[1], now, 'NX')
return now - tonumber(redis.call('GET', KEYS[1]))
"""
)
