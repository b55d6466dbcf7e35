export { connectRedis, type RedisLog, type SharedRedis, type SharedRedisOptions } from './connection.ts';
export { createLogThrottle, type LogThrottle } from './log-throttle.ts';
export { memoryLimiters, redisLimiters, type LimiterFactory, type LimiterOptions } from './limiter.ts';
export { addressLimitKey } from './address-key.ts';
export { memoryWaitGates, redisWaitGates, type WaitGate, type WaitGateFactory, type WaitGateOptions } from './wait-gate.ts';
