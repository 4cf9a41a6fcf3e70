import { expect, test } from "bun:test";
import { sumMetrics } from "../../src/workers/sum-metrics.ts";

const worker = (sessions: number, publish: number, bucket: number) =>
  [
    "# HELP comet_sessions Authenticated sessions",
    "# TYPE comet_sessions gauge",
    `comet_sessions ${sessions}`,
    "# HELP comet_api_requests_total HTTP API requests, by method and status",
    "# TYPE comet_api_requests_total counter",
    `comet_api_requests_total{method="Publish",status="200"} ${publish}`,
    "# HELP comet_api_request_duration_seconds latency",
    "# TYPE comet_api_request_duration_seconds histogram",
    `comet_api_request_duration_seconds_bucket{method="Publish",le="0.001"} ${bucket}`,
    `comet_api_request_duration_seconds_sum{method="Publish"} 0.5`,
    `comet_api_request_duration_seconds_count{method="Publish"} ${bucket}`,
    "",
  ].join("\n");

test("the host's metrics: every series summed over the workers, each family's help and type once", () => {
  const out = sumMetrics([worker(3, 10, 4), worker(5, 1, 6)]);
  expect(out).toBe(
    [
      "# HELP comet_sessions Authenticated sessions",
      "# TYPE comet_sessions gauge",
      "comet_sessions 8",
      "# HELP comet_api_requests_total HTTP API requests, by method and status",
      "# TYPE comet_api_requests_total counter",
      'comet_api_requests_total{method="Publish",status="200"} 11',
      "# HELP comet_api_request_duration_seconds latency",
      "# TYPE comet_api_request_duration_seconds histogram",
      'comet_api_request_duration_seconds_bucket{method="Publish",le="0.001"} 10',
      'comet_api_request_duration_seconds_sum{method="Publish"} 1',
      'comet_api_request_duration_seconds_count{method="Publish"} 10',
      "",
    ].join("\n"),
  );
});

test("a series only one worker has is kept; a label value with spaces is one series; a value that is not a number counts 0", () => {
  const a = '# HELP x x\n# TYPE x counter\nx{reason="a b"} 2\n';
  const b = '# HELP x x\n# TYPE x counter\nx{reason="a b"} 3\nx{reason="c"} 1\nx{reason="d"} NaN\n';
  expect(sumMetrics([a, b])).toBe(
    '# HELP x x\n# TYPE x counter\nx{reason="a b"} 5\nx{reason="c"} 1\nx{reason="d"} 0\n',
  );
  expect(sumMetrics([])).toBe("");
});
