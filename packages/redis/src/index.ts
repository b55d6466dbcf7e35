export { connectRedis, type RedisLog, type SharedRedis, type SharedRedisOptions } from './connection.ts';
export { createLogThrottle, type LogThrottle } from './log-throttle.ts';
export { consumeOr429, memoryLimiters, redisLimiters, secondsUntilReset, tryConsume, type LimiterFactory, type LimiterOptions } from './limiter.ts';
export { StoreUnavailableError } from './store-unavailable.ts';
export { addressLimitKey } from './address-key.ts';
export { memoryWaitGates, redisWaitGates, type WaitGate, type WaitGateFactory, type WaitGateOptions } from './wait-gate.ts';
export { redisJtiStore, type RedisJtiStore } from './jti-store.ts';
