"""The time bound of a room's history: the Lua the publish scripts and the recovery read share
(`AGE_FN`), and the width of its checkpoint buckets (`history_grain`)."""

from __future__ import annotations

# The time bound of a room's history (a recovery cache: the durable events are in PostgreSQL).
# Stream ids are offsets, not times, so the meta hash keeps checkpoints, field `c`:
# "<bucket>:<first offset>,..." where a bucket is `grain` seconds of Redis's clock (TIME) and
# its offset the first published in it (added when a publish opens a new bucket), and field
# `a`, "<window>:<grain>" as the last publisher set them. A bucket wholly older than `window`
# seconds goes with its entries (XTRIM MINID the next bucket's first offset) at each publish and
# each recovery read, with the history keys and tombstones of what went, so replay serves every
# event of the last `window` seconds and none older than `window + grain`. The stream expires
# `window + grain` after its last event; the meta (epoch, offset) lives `ttl`, so a client that
# missed nothing still recovers after a longer absence, and one that missed trimmed events is
# told `recovered: false`.
AGE_FN = """
-- the history keys (`k:`, RETRACT_FN) whose entries were all trimmed (every one when `low` is
-- nil: the stream is gone), and the tombstones (`x`) below the oldest kept entry
local function forget_below(meta, low)
  local all = redis.call('HGETALL', meta)
  for i = 1, #all, 2 do
    local f = all[i]
    if string.sub(f, 1, 2) == 'k:' then
      local top = 0
      for o in string.gmatch(all[i + 1], '%d+') do top = tonumber(o) end
      if not low or top < low then redis.call('HDEL', meta, f) end
    elseif f == 'x' then
      local kept = {}
      for t in string.gmatch(all[i + 1], '%d+') do
        if low and tonumber(t) >= low - 1 then kept[#kept + 1] = t end
      end
      redis.call('HSET', meta, 'x', ',' .. table.concat(kept, ','))
    end
  end
end
local function age_trim(meta, stream, offset, window, grain)
  local raw = redis.call('HMGET', meta, 'c', 'a')
  if not offset then  -- a read: the writer's bound, if it set one
    if not raw[2] then return end
    local w, g = string.match(raw[2], '^(%d+):(%d+)$')
    window, grain = tonumber(w), tonumber(g)
  end
  local now = tonumber(redis.call('TIME')[1])
  local marks = {}
  for b, o in string.gmatch(raw[1] or '', '(%d+):(%d+)') do marks[#marks + 1] = {tonumber(b), o} end
  local changed = false
  local bucket = math.floor(now / grain)
  if offset and (#marks == 0 or marks[#marks][1] < bucket) then
    marks[#marks + 1] = {bucket, tostring(offset)}
    changed = true
  end
  local first, cutoff = 1, now - window
  while marks[first] and (marks[first][1] + 1) * grain <= cutoff do first = first + 1 end
  if first > 1 then
    local low = marks[first] and tonumber(marks[first][2])
    if low then redis.call('XTRIM', stream, 'MINID', low .. '-0')
    else redis.call('DEL', stream) end
    forget_below(meta, low)
    changed = true
  end
  if changed then
    local kept = {}
    for i = first, #marks do kept[#kept + 1] = string.format('%d:%s', marks[i][1], marks[i][2]) end
    redis.call('HSET', meta, 'c', table.concat(kept, ','), 'a', window .. ':' .. grain)
  end
  if offset then redis.call('EXPIRE', stream, window + grain) end
end
"""


def history_grain(window: int) -> int:
    """The seconds of one checkpoint bucket of a `window`-second history (AGE_FN): a
    twentieth of it, at least 1, so a stream keeps at most 5 % more than its window."""
    return max(1, window // 20)
