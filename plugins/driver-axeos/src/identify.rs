//! Recognising AxeOS from the host's probe of `GET /`.

use solomon_plugin_sdk::driver::{Identification, Probe};

/// AxeOS serves an Angular page titled "AxeOS"; the NerdQAxe fork titles it "Nerd* Dashboard".
pub fn identify(probe: &Probe) -> Option<Identification> {
    let body = probe.http_body.as_deref()?;
    let (make, confidence) =
        if body.contains("Nerd") && (body.contains("Dashboard") || body.contains("AxeOS")) {
            ("NerdQAxe", 90)
        } else if body.contains("AxeOS") {
            ("Bitaxe", 90)
        } else if body.contains("\"ASICModel\"") && body.contains("\"hashRate\"") {
            // A proxy or a test server answering `/` with the info JSON itself.
            ("Bitaxe", 60)
        } else {
            return None;
        };
    Some(Identification {
        confidence,
        make: make.to_string(),
        model: None,
        firmware: Some("AxeOS".to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(body: &str) -> Probe {
        Probe {
            http_status: Some(200),
            http_body: Some(body.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn recognises_axeos_and_nerdqaxe() {
        let b = identify(&probe("<html><title>AxeOS</title></html>")).expect("axeos");
        assert_eq!((b.make.as_str(), b.confidence), ("Bitaxe", 90));
        let n = identify(&probe("<title>NerdQAxe++ Dashboard</title>")).expect("nerd");
        assert_eq!(n.make, "NerdQAxe");
        assert!(identify(&probe("<title>Antminer</title>")).is_none());
        assert!(identify(&Probe::default()).is_none());
    }
}
