import Testing

/// The suites that run a real cluster, one suite at a time. A drill's load or the receipt
/// path's SIGTERM test keeps both cores busy, and a drill judges its steady state by throughput
/// and latency, which another suite's cluster beside it would skew.
@Suite(.serialized) enum ClusterSuites {}
