//! Human-readable numbers for the command line.

/// `1.23 TH/s`, `480 GH/s`: the SDK's formatting, so the CLI and the rules' messages agree.
pub use solomon_plugin_sdk::units::format_hashrate as hashrate;

/// `3.47 G`, `524 k` (difficulties).
pub fn si(v: f64) -> String {
    let units = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    for (f, u) in units {
        if v >= f {
            return format!("{:.2} {u}", v / f);
        }
    }
    format!("{v:.0}")
}

/// `20h 3m`, `3d 4h`.
pub fn duration(s: u64) -> String {
    match s {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}m {}s", s / 60, s % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(hashrate(1.2343e12), "1.23 TH/s");
        assert_eq!(hashrate(480e9), "480 GH/s");
        assert_eq!(si(3_468_978_118.0), "3.47 G");
        assert_eq!(duration(72_227), "20h 3m");
    }
}
