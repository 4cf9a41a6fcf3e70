/**
 * The server-side halves of RedisLog: every step that must see a stream as one whole (number and
 * keep a message, make an epoch, read what follows a position) runs as one Lua script, so that no
 * other instance's command comes between its reads and its writes.
 *
 * Each stream has two keys (no Redis Cluster: a script may touch both):
 *   <prefix>:pos:<stream>  a hash: e = epoch, n = last seq, o = at most the time of the oldest kept
 *   <prefix>:log:<stream>  a list of the kept messages, oldest first, each "<seq>:<ms>:<evt>"
 * A list, not a Redis stream: Redis 7 gives every stream a 4 KiB listpack from its first entry
 * (measured: 4.3 KB for a stream of one message, against 0.3 KB for a list), and most of Comet's
 * streams (a user's) keep a message or two. Messages leave from the oldest end only (LTRIM by
 * count, LPOP by age), so the kept seqs are consecutive up to the top and a seq's index follows
 * from the top and the list's length; each entry still carries its seq, and a read checks it.
 * Both keys expire `ttl` after the stream's last append.
 */
import { createHash } from "node:crypto";

export interface Script {
  /** The Lua source, sent by EVAL when the server does not have it cached. */
  readonly source: string;
  /** Its SHA-1, sent by EVALSHA. */
  readonly sha: string;
}

export function script(source: string): Script {
  return { source, sha: createHash("sha1").update(source).digest("hex") };
}

// Shared by the scripts below: Redis TIME in ms, and a new epoch. The epoch is TIME in base 36 and
// a random part that the caller sends (scripts get no randomness of their own that differs by
// call), so that a stream made again never takes the epoch of one before it, even when the
// server's clock went back.
const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function new_epoch(ms, nonce)
  local digits = '0123456789abcdefghijklmnopqrstuvwxyz'
  local s = ''
  repeat
    local d = ms % 36
    s = string.sub(digits, d + 1, d + 1) .. s
    ms = (ms - d) / 36
  until ms == 0
  return s .. nonce
end
-- The stream's epoch, its last seq, and whether it was made now (seq 0: the store had none). The
-- log of a stream whose position is gone belongs to no epoch: it is dropped, never served under the new one.
local function position(pos, log, ms, nonce)
  local p = redis.call('HMGET', pos, 'e', 'n')
  if p[1] then return p[1], tonumber(p[2]), false end
  local epoch = new_epoch(ms, nonce)
  redis.call('DEL', log)
  redis.call('HSET', pos, 'e', epoch, 'n', 0)
  return epoch, 0, true
end
`;

// Numbers one message and keeps it within size and ttl: shared by APPEND and APPEND_ONCE.
const APPEND_ONE = `
-- Drops the kept messages at or before cutoff. 'o' is at most the oldest's time, so that the
-- common case (nothing that old) reads no entry: an entry is read (and copied) only when 'o' says
-- it may be old, and 'o' is then set to what it is.
local function drop_old(pos, log, cutoff)
  local o = tonumber(redis.call('HGET', pos, 'o'))
  if o and o > cutoff then return end
  while true do
    local head = redis.call('LINDEX', log, 0)
    if not head then
      redis.call('HDEL', pos, 'o')
      return
    end
    local t = tonumber(string.match(head, '^%d+:(%d+):'))
    if t > cutoff then
      redis.call('HSET', pos, 'o', t)
      return
    end
    redis.call('LPOP', log)
  end
end
local function append_one(pos, log, size, ttl, ms, nonce, evt)
  local epoch = position(pos, log, ms, nonce)
  local seq = redis.call('HINCRBY', pos, 'n', 1)
  if size > 0 then
    local len = redis.call('RPUSH', log, string.format('%d:%d:', seq, ms) .. evt)
    if len == 1 then redis.call('HSET', pos, 'o', ms) end
    if len > size then redis.call('LTRIM', log, -size, -1) end
    -- A message exactly ttl old is gone, as in the in-memory history.
    drop_old(pos, log, ms - ttl)
    redis.call('PEXPIRE', log, ttl)
  end
  redis.call('PEXPIRE', pos, ttl)
  return epoch, seq
end
`;

/**
 * KEYS: pos and log of each item, in pairs. ARGV: size, ttl (ms), nonce, deadline (ms since the
 * epoch, 0 = none), then one evt per item. Answers, per item in order, its epoch and seq; nil when
 * it runs after the deadline (the caller gave up on it: it must not land). size 0 numbers and keeps
 * nothing.
 */
export const APPEND = script(`#!lua
${COMMON}
${APPEND_ONE}
local size, ttl, nonce, deadline = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local ms = now_ms()
if deadline > 0 and ms > deadline then return false end
local out = {}
for i = 1, #KEYS / 2 do
  local epoch, seq = append_one(KEYS[2 * i - 1], KEYS[2 * i], size, ttl, ms, nonce, ARGV[4 + i])
  out[2 * i - 1] = epoch
  out[2 * i] = seq
end
return out
`);

/**
 * An append that happens once however many instances ask within a window: a broker Event reaches
 * every instance that reads its topic, and each asks. KEYS: pos, log, mark (the Event's digest).
 * ARGV: size, ttl (ms), nonce, window (ms), evt, deadline (as APPEND's). Answers {epoch, seq, 1}
 * when this call appended, {epoch, seq, 0} when an earlier one did (the position it got), nil
 * past the deadline.
 */
export const APPEND_ONCE = script(`#!lua
${COMMON}
${APPEND_ONE}
local ms = now_ms()
if tonumber(ARGV[6]) > 0 and ms > tonumber(ARGV[6]) then return false end
local seen = redis.call('GET', KEYS[3])
if seen then
  local epoch, seq = string.match(seen, '^(.*):(%d+)$')
  return {epoch, tonumber(seq), 0}
end
local epoch, seq = append_one(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), ms, ARGV[3], ARGV[5])
redis.call('SET', KEYS[3], epoch .. ':' .. seq, 'PX', tonumber(ARGV[4]))
return {epoch, seq, 1}
`);

/**
 * KEYS: pos. Answers {epoch, seq} of the stream, or nil when the store has none (its next append
 * makes it, from seq 1). Reads only: what an instance learns when a stream gets a holder here.
 */
export const PEEK = script(`#!lua flags=no-writes
local p = redis.call('HMGET', KEYS[1], 'e', 'n')
if not p[1] then return false end
return {p[1], tonumber(p[2])}
`);

/**
 * KEYS: pos, log. ARGV: ttl (ms), nonce. Answers {epoch, seq}; a stream made here expires after
 * ttl unless an append comes.
 */
export const TOP = script(`#!lua
${COMMON}
local epoch, seq, made = position(KEYS[1], KEYS[2], now_ms(), ARGV[2])
if made then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1])) end
return {epoch, seq}
`);

/**
 * KEYS: pos, log. ARGV: epoch, after, upTo ("" for the top), ttl (ms). Answers the entries with
 * seq in (after, upTo] as {seq, evt, seq, evt, ...} when all are kept and younger than ttl, else
 * nil. Reads only: it may run while the server refuses writes (out of memory).
 */
export const READ = script(`#!lua flags=no-writes
local p = redis.call('HMGET', KEYS[1], 'e', 'n')
if p[1] ~= ARGV[1] then return false end
local top = tonumber(p[2])
local after = tonumber(ARGV[2])
local upto = top
if ARGV[3] ~= '' then upto = tonumber(ARGV[3]) end
if after < 0 or after > upto or upto > top then return false end
if after == upto then return {} end
-- The list keeps seqs top - len + 1 .. top: after + 1 is at index len - (top - after).
local len = redis.call('LLEN', KEYS[2])
local first = len - (top - after)
if first < 0 then return false end
local entries = redis.call('LRANGE', KEYS[2], first, first + upto - after - 1)
if #entries ~= upto - after then return false end
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[4])
local out = {}
for i, entry in ipairs(entries) do
  local seq, ms, evt = string.match(entry, '^(%d+):(%d+):()')
  -- Each one is checked, not only the oldest: a clock that went back may have stamped a later one earlier.
  if tonumber(seq) ~= after + i or tonumber(ms) <= cutoff then return false end
  out[2 * i - 1] = after + i
  out[2 * i] = string.sub(entry, evt)
end
return out
`);
