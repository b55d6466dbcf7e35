export { boundedLabel } from './bounded-label.ts';
export { createAppMetrics, type AppMetrics, type HttpMetrics } from './registry.ts';
export { startMetricsServer, type MetricsServer } from './server.ts';
