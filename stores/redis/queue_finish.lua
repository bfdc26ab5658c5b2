-- queue_finish.lua: finishes whole claims together with the jobs their
-- units made: per claim whose token is live, enqueues its jobs and
-- completes it (removes its first n_done jobs, releases the group); a
-- claim whose token is stale stays unchanged and its jobs are dropped.
-- Its jobs are thus enqueued exactly when it completes, never by a claim
-- that ran it before nor by a resent call: the caller may mark their ids
-- fresh (mode 3, inline).
-- ARGV: now, number of claims, then per claim: group, token, n_done,
-- number of jobs; then the fields of the jobs of every claim in claim
-- order (see queue_push.lua). Returns per claim -1 when its token is
-- stale, else which of its jobs of mode 5 had their fold state written
-- instead of being queued (a bit per job, see push_jobs).
local now_s, nc = ARGV[1], tonumber(ARGV[2])
local now = tonumber(now_s)
local out, live, at, jobs_at = {}, {}, 3, 3 + 4 * nc
for c = 1, nc do
  local g, tok, n_jobs = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 3])
  local m = redis.call('HMGET', km(g), 's', 'tok', 'lu', 'n', 'x', 't')
  if m[1] ~= 'claimed' or m[2] ~= tok or tonumber(m[3]) < now then
    out[c] = -1
    jobs_at = skip_jobs(jobs_at, n_jobs)
  else
    jobs_at, out[c] = push_jobs(jobs_at, n_jobs, now_s)
    live[#live + 1] = {g, math.min(tonumber(ARGV[at + 2]), tonumber(m[4])), m[5], m[6]}
  end
  at = at + 4
end
local _, woken = push_flush(now)
for _, l in ipairs(live) do
  pop_jobs(l[1], l[2], l[3])
  if release(l[1], now, l[4]) == 1 then woken = woken + 1 end
end
wake(woken)
return out
