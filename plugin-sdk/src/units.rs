//! Hashrate units. The record always carries H/s; drivers convert at the boundary.

/// A hashrate unit as firmware reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashUnit {
    /// H/s
    H,
    /// kH/s
    KH,
    /// MH/s: cgminer upstream, Whatsminer v1/v2, Avalon `MHS *`.
    MH,
    /// GH/s: AxeOS `hashRate`, Antminer `GHS *`.
    GH,
    /// TH/s: Whatsminer API v3.
    TH,
    /// PH/s
    PH,
}

impl HashUnit {
    /// Multiplier to H/s.
    pub fn factor(self) -> f64 {
        match self {
            HashUnit::H => 1.0,
            HashUnit::KH => 1e3,
            HashUnit::MH => 1e6,
            HashUnit::GH => 1e9,
            HashUnit::TH => 1e12,
            HashUnit::PH => 1e15,
        }
    }

    /// Reads `"GH"`, `"GH/s"`, `"mhs"`, `"TH"` ... (Antminer `rate_unit`).
    pub fn parse(s: &str) -> Option<HashUnit> {
        let s = s
            .trim()
            .trim_end_matches("/s")
            .trim_end_matches('S')
            .trim_end_matches('s');
        Some(match s.to_ascii_uppercase().as_str() {
            "H" => HashUnit::H,
            "K" | "KH" => HashUnit::KH,
            "M" | "MH" => HashUnit::MH,
            "G" | "GH" => HashUnit::GH,
            "T" | "TH" => HashUnit::TH,
            "P" | "PH" => HashUnit::PH,
            _ => return None,
        })
    }
}

/// Converts a value in `unit` to H/s.
pub fn to_hs(value: f64, unit: HashUnit) -> f64 {
    value * unit.factor()
}

/// A hashrate in H/s for people, three significant digits: `1.21 TH/s`, `890 GH/s`.
pub fn format_hashrate(hs: f64) -> String {
    const UNITS: [(f64, &str); 6] = [
        (1e18, "EH/s"),
        (1e15, "PH/s"),
        (1e12, "TH/s"),
        (1e9, "GH/s"),
        (1e6, "MH/s"),
        (1e3, "kH/s"),
    ];
    let (v, unit) = UNITS
        .iter()
        .find(|(f, _)| hs.abs() >= *f)
        .map_or((hs, "H/s"), |(f, u)| (hs / f, *u));
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts() {
        assert_eq!(to_hs(1.5, HashUnit::GH), 1.5e9);
        assert_eq!(to_hs(2.0, HashUnit::MH), 2.0e6);
        assert_eq!(HashUnit::parse("GH"), Some(HashUnit::GH));
        assert_eq!(HashUnit::parse("GH/s"), Some(HashUnit::GH));
        assert_eq!(HashUnit::parse("mhs"), Some(HashUnit::MH));
        assert_eq!(HashUnit::parse("bogus"), None);
    }

    #[test]
    fn formats_hashrates_for_people() {
        assert_eq!(format_hashrate(1.2149e12), "1.21 TH/s");
        assert_eq!(format_hashrate(890e9), "890 GH/s");
        assert_eq!(format_hashrate(52.6e15), "52.6 PH/s");
        assert_eq!(format_hashrate(0.0), "0.00 H/s");
    }
}
