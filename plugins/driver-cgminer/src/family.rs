//! Which firmware family a CGMiner-style reply comes from (pyasic's and asic-rs's substring
//! rules, in their order).

use solomon_plugin_sdk::driver::{Identification, Probe};
use solomon_plugin_sdk::json::JsonValue;

/// A firmware family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Braiins OS / BOS+ (bosminer, boser).
    Braiins,
    /// Whatsminer btminer.
    Whatsminer,
    /// LuxOS (LUXminer).
    LuxOs,
    /// Stock Antminer firmware (bmminer / cgminer-bitmain).
    Antminer,
    /// Canaan Avalon.
    Avalon,
    /// Any other cgminer.
    Generic,
}

/// The names that give a family away, upper-case, in the order they are tried: the first that
/// occurs anywhere decides (LuxOS on an Antminer says both, and is LuxOS).
const NAMES: [(&str, Family); 9] = [
    ("BOSMINER", Family::Braiins),
    ("BOSER", Family::Braiins),
    ("BTMINER", Family::Whatsminer),
    ("BITMICRO", Family::Whatsminer),
    ("WHATSMINER", Family::Whatsminer),
    ("LUXMINER", Family::LuxOs),
    ("ANTMINER", Family::Antminer),
    ("BMMINER", Family::Antminer),
    ("AVALON", Family::Avalon),
];

/// The bytes a name starts with (upper-case), so that a search compares names only where one
/// could begin.
const STARTS: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < NAMES.len() {
        t[NAMES[i].0.as_bytes()[0] as usize] = true;
        i += 1;
    }
    t
};

/// The index of the earliest of `names` that `text` holds, in any case: one pass over `text`,
/// comparing names only at the bytes they start with. (A scan of the whole text per name was
/// 2.4% of a CGMiner poll, run over every string of three replies at every poll.)
fn earliest(text: &str, names: &[(&str, Family)]) -> Option<usize> {
    let b = text.as_bytes();
    let mut found: Option<usize> = None;
    for (i, c) in b.iter().enumerate() {
        let c = c.to_ascii_uppercase();
        if !STARTS[usize::from(c)] {
            continue;
        }
        let rest = &b[i..];
        let below = found.unwrap_or(names.len());
        if let Some(n) = names[..below].iter().position(|(name, _)| {
            let name = name.as_bytes();
            name[0] == c
                && rest.len() >= name.len()
                && rest[..name.len()].eq_ignore_ascii_case(name)
        }) {
            found = Some(n);
            if n == 0 {
                break;
            }
        }
    }
    found
}

impl Family {
    /// From the text of the `version` (and `devdetails`) replies, in any case.
    pub fn detect(text: &str) -> Family {
        earliest(text, &NAMES).map_or(Family::Generic, |i| NAMES[i].1)
    }

    /// From the replies themselves: the same rules over the keys and string values of `whole`
    /// (`version`, `devdetails`), and of the envelopes of `enveloped` (`summary`: its `STATUS`
    /// and top-level strings such as btminer's `Description`, not its data), each searched where
    /// it is. This runs every poll; inside WASM, copying every key and string into one text to
    /// search was a copy call each. No name spans a key and its value.
    pub fn detect_in<V: JsonValue>(whole: &[&V], enveloped: &[&V]) -> Family {
        /// Lowers `first` to the index of the earliest name in `text`.
        fn look(text: &str, first: &mut usize) {
            if let Some(i) = earliest(text, &NAMES[..*first]) {
                *first = i;
            }
        }
        fn walk<V: JsonValue>(v: &V, first: &mut usize) {
            if let Some(s) = v.str_value() {
                look(s, first);
            } else if let Some(list) = v.elements() {
                list.iter().for_each(|v| walk(v, first));
            } else {
                v.for_each_member(&mut |k, v| {
                    look(k, first);
                    walk(v, first);
                });
            }
        }
        let mut first = NAMES.len();
        for r in whole {
            walk(*r, &mut first);
        }
        for r in enveloped {
            r.for_each_member(&mut |k, v| {
                if k == "STATUS" || v.str_value().is_some() {
                    walk(v, &mut first);
                }
            });
        }
        NAMES.get(first).map_or(Family::Generic, |(_, f)| *f)
    }

    /// The record's `make`.
    pub fn make(self) -> &'static str {
        match self {
            Family::Braiins | Family::LuxOs | Family::Antminer => "Antminer",
            Family::Whatsminer => "Whatsminer",
            Family::Avalon => "Avalon",
            Family::Generic => "cgminer",
        }
    }

    /// The record's `firmware`.
    pub fn firmware(self) -> &'static str {
        match self {
            Family::Braiins => "Braiins OS",
            Family::Whatsminer => "btminer",
            Family::LuxOs => "LuxOS",
            Family::Antminer => "bmminer",
            Family::Avalon | Family::Generic => "cgminer",
        }
    }
}

/// Claims a miner whose RPC answered like a cgminer.
pub fn identify(probe: &Probe) -> Option<Identification> {
    let upper = probe.rpc_text_upper();
    let replied = probe.rpc_version_json().is_some() || probe.rpc_devdetails_json().is_some();
    if !replied {
        // An Antminer whose API is off still shows its web login realm.
        let realm = probe
            .header("www-authenticate")
            .unwrap_or_default()
            .to_ascii_lowercase();
        return realm.contains("antminer").then(|| Identification {
            confidence: 30,
            make: "Antminer".into(),
            model: None,
            firmware: Some("bmminer".into()),
        });
    }
    let family = Family::detect(&upper);
    let confidence = if family == Family::Generic { 40 } else { 90 };
    Some(Identification {
        confidence,
        make: family.make().into(),
        model: None,
        firmware: Some(family.firmware().into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;

    #[test]
    fn detection_order() {
        assert_eq!(
            Family::detect(r#"{"VERSION":[{"BOSMINER":"0.9","TYPE":"ANTMINER S9"}]}"#),
            Family::Braiins
        );
        assert_eq!(
            Family::detect("DESCRIPTION\":\"BTMINER"),
            Family::Whatsminer
        );
        assert_eq!(
            Family::detect("LUXMINER 2024.1 ANTMINER S19"),
            Family::LuxOs
        );
        assert_eq!(
            Family::detect("\"TYPE\":\"ANTMINER S19 PRO\""),
            Family::Antminer
        );
        assert_eq!(Family::detect("\"PROD\":\"AVALON Q\""), Family::Avalon);
        assert_eq!(Family::detect("CGMINER 4.11"), Family::Generic);
    }

    proptest::proptest! {
        /// The one-pass search finds the earliest name a text holds, as searching the text
        /// upper-cased for each name in turn does.
        #[test]
        fn the_earliest_name_is_the_one_a_search_per_name_finds(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    "[a-zA-Z ]{0,4}",
                    proptest::sample::select(vec![
                        "bosminer", "BOSer", "btMiner", "bitmicro", "WhatsMiner", "luxminer",
                        "Antminer", "bmminer", "Avalon", "Anti", "BOS", "luxm",
                    ]).prop_map(|s: &str| s.to_string()),
                ],
                0..6,
            ),
        ) {
            let text = parts.concat();
            let upper = text.to_ascii_uppercase();
            let want = NAMES.iter().position(|(name, _)| upper.contains(name));
            proptest::prop_assert_eq!(earliest(&text, &NAMES), want, "{:?}", text);
        }
    }

    #[test]
    fn detection_in_replies_reads_keys_and_strings_not_numbers() {
        let bos = serde_json::json!({"VERSION": [{"BOSminer": "0.9", "Type": "Antminer S9"}]});
        assert_eq!(Family::detect_in(&[&bos], &[]), Family::Braiins);
        let stock = serde_json::json!({"STATUS": [{"Description": "bmminer 1.0.0"}], "id": 1});
        let summary = serde_json::json!({"SUMMARY": [{"GHS 5s": 140000.5, "Elapsed": 10}]});
        assert_eq!(
            Family::detect_in(&[], &[&stock, &summary]),
            Family::Antminer
        );
        let avalon = serde_json::json!({"VERSION": [{"PROD": "AvalonMiner 1246"}]});
        assert_eq!(Family::detect_in(&[&avalon], &[]), Family::Avalon);
        assert_eq!(Family::detect_in(&[&summary], &[&summary]), Family::Generic);
        // The order of the names decides, not the order of the replies.
        let lux = serde_json::json!({"VERSION": [{"Type": "Antminer S19", "LUXminer": "2024.5"}]});
        assert_eq!(Family::detect_in(&[&stock, &lux], &[]), Family::LuxOs);
        // btminer's flat envelope names itself at the top level.
        let flat = serde_json::json!({"STATUS": "S", "Description": "BtMiner v1", "Msg": {}});
        assert_eq!(Family::detect_in(&[&avalon], &[&flat]), Family::Whatsminer);
    }

    #[test]
    fn an_envelope_is_read_for_its_status_not_its_data() {
        let summary = serde_json::json!({
            "STATUS": [{"STATUS": "S", "Description": "cgminer 4.11"}],
            "SUMMARY": [{"Note": "antminer"}],
            "Msg": {"Model": "Avalon"}
        });
        assert_eq!(Family::detect_in(&[], &[&summary]), Family::Generic);
        assert_eq!(Family::detect_in(&[&summary], &[]), Family::Antminer);
    }

    #[test]
    fn identify_needs_an_rpc_reply() {
        let version =
            include_str!("../../../tests/fixtures/antminer/s19pro_stock-49.0.1.3_version.json");
        let p = Probe {
            rpc_version: Some(version.into()),
            ..Default::default()
        };
        let id = identify(&p).expect("antminer");
        assert_eq!(
            (id.make.as_str(), id.confidence, id.firmware.as_deref()),
            ("Antminer", 90, Some("bmminer"))
        );
        assert!(identify(&Probe::default()).is_none());
        let web = Probe {
            http_headers: vec![(
                "www-authenticate".into(),
                "Digest realm=\"antMiner Configuration\"".into(),
            )],
            ..Default::default()
        };
        assert_eq!(identify(&web).map(|i| i.confidence), Some(30));
        let garbage = Probe {
            rpc_version: Some("HTTP/1.1 400".into()),
            ..Default::default()
        };
        assert!(identify(&garbage).is_none());
    }
}
