-- Requeue each tag in ARGV (front of its queue). Returns how many.
-- KEYS: unacked, unacked_index.
--- @include "restore-tag"
local n = 0
for i = 1, #ARGV do n = n + restore_tag(ARGV[i]) end
return n
