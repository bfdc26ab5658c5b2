-- queue_enqueue.lua: appends a batch of jobs to their groups.
-- ARGV: now, then 10 fields per job (see queue_push.lua). Returns the
-- number of jobs added.
push_jobs(2, (#ARGV - 1) / PUSH_NF, ARGV[1])
local added, woken = push_flush(tonumber(ARGV[1]))
wake(woken)
return added
