/**
 * The server-side halves of RedisLog: every step that must see a stream as one whole (number and
 * keep a message, make an epoch, read what follows a position) runs as one Lua script, so that no
 * other instance's command comes between its reads and its writes.
 *
 * Each stream has two keys (no Redis Cluster: a script may touch both):
 *   <prefix>:pos:<stream>  a hash: e = epoch, n = last seq, t = the ms part of the last entry's ID
 *   <prefix>:log:<stream>  a Redis stream of the kept messages, ID "<ms>-<seq>", one field e = evt
 * The ID's first part is the time of the append (Redis TIME, never below the last one), so XTRIM
 * MINID drops messages by age and XADD MAXLEN by count, both natively and from the oldest end; the
 * seq is the ID's second part. Both keys expire `ttl` after the stream's last append.
 */
import { createHash } from "node:crypto";

export interface Script {
  /** The Lua source, sent by EVAL when the server does not have it cached. */
  readonly source: string;
  /** Its SHA-1, sent by EVALSHA. */
  readonly sha: string;
}

function script(source: string): Script {
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

/**
 * KEYS: pos and log of each item, in pairs. ARGV: size, ttl (ms), nonce, then one evt per item.
 * Answers, per item in order, its epoch and seq. size 0 numbers and keeps nothing.
 */
export const APPEND = script(`#!lua
${COMMON}
local size, ttl, nonce = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local ms = now_ms()
local out = {}
for i = 1, #KEYS / 2 do
  local pos, log = KEYS[2 * i - 1], KEYS[2 * i]
  local epoch = position(pos, log, ms, nonce)
  local seq = redis.call('HINCRBY', pos, 'n', 1)
  if size > 0 then
    -- IDs must grow: a clock that went back keeps the last time until it passes it again.
    local t = math.max(ms, tonumber(redis.call('HGET', pos, 't')) or 0)
    redis.call('XADD', log, 'MAXLEN', size, string.format('%d-%d', t, seq), 'e', ARGV[3 + i])
    -- A message exactly ttl old is gone, as in the in-memory history.
    redis.call('XTRIM', log, 'MINID', string.format('%d', ms - ttl + 1))
    redis.call('HSET', pos, 't', t)
    redis.call('PEXPIRE', log, ttl)
  end
  redis.call('PEXPIRE', pos, ttl)
  out[2 * i - 1] = epoch
  out[2 * i] = seq
end
return out
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
-- Kept entries have consecutive seqs up to the top (trimming takes only the oldest): the newest
-- top - after of them are the ones after 'after' when there are that many.
local want = top - after
local entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', want)
if #entries < want then return false end
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[4])
local ms, seq = string.match(entries[want][1], '^(%d+)-(%d+)$')
-- The oldest wanted decides: the entries after it are younger.
if tonumber(seq) ~= after + 1 or tonumber(ms) <= cutoff then return false end
local out = {}
for i = want, 1, -1 do
  local s = after + 1 + want - i
  if s > upto then break end
  out[#out + 1] = s
  out[#out + 1] = entries[i][2][2]
end
return out
`);
