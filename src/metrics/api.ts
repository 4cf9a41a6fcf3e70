/**
 * The instruments of the API, which two ways in share (HTTP in src/http/, gRPC unary calls in
 * src/grpc/): requests and their latency, and failed admin authentications.
 */
import type { Counter, Histogram, Registry } from "./registry.ts";

export interface ApiMetrics {
  apiRequests: Counter;
  apiLatency: Histogram;
  adminAuthFailures: Counter;
}

export function apiMetrics(registry: Registry): ApiMetrics {
  return {
    adminAuthFailures: registry.counter(
      "comet_admin_auth_failures_total",
      "Failed admin authentications (HTTP API, demo page, gRPC), by outcome: unauthorized, or rate_limited",
    ),
    apiRequests: registry.counter("comet_api_requests_total", "HTTP API requests, by method and status"),
    apiLatency: registry.histogram(
      "comet_api_request_duration_seconds",
      "HTTP API request latency, by method and status",
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    ),
  };
}
