-- setanswer: store an answer, replacing any value and TTL.
-- KEYS[1] the answer hash.
-- ARGV[1] value  ARGV[2] "1" ok / "0" error  ARGV[3] TTL ms
-- Returns 1.
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'ok', ARGV[2], 'ttl', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
