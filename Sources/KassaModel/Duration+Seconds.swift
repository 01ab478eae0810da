extension Duration {
    /// The duration as fractional seconds (for figures, ratios and wall-clock arithmetic).
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
