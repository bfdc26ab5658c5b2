-- queue_enqueue.lua: appends a batch of jobs to their groups.
-- ARGV: now, the number of jobs, then the jobs' fields (see
-- queue_push.lua). Returns the number of jobs added.
push_jobs(3, tonumber(ARGV[2]), ARGV[1])
local added, woken = push_flush(tonumber(ARGV[1]))
wake(woken)
return added
