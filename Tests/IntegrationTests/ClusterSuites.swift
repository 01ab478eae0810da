import Testing

/// The suites that run a real cluster, one suite at a time. Each cluster keeps both cores busy
/// (a drill's load, the receipt path's SIGTERM test), and a drill judges its steady state by
/// throughput and latency: run beside another suite's cluster, it measured that suite instead.
@Suite(.serialized) enum ClusterSuites {}
