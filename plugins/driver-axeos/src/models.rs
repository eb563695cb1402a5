//! AxeOS reports the chip (`ASICModel`), not the product. The product comes from `deviceModel`
//! (NerdQAxe, and `/api/system/asic` on Bitaxe) or from `boardVersion`
//! (ESP-Miner `main/device_config.h`).

/// A Bitaxe product and its chip count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product {
    /// `Gamma`, `Supra`, ...
    pub name: &'static str,
    /// ASICs on the board.
    pub chips: u32,
}

/// The product for a `boardVersion` string (`"601"`, `"2.2"`, `"0.11"`).
pub fn from_board_version(board: &str) -> Option<Product> {
    let p = |name, chips| Some(Product { name, chips });
    match board.trim() {
        "2.2" | "102" => p("Max", 1),
        "0.11" | "201" | "202" | "203" | "204" | "205" | "207" => p("Ultra", 1),
        "302" | "303" => p("Hex", 6),
        "400" | "401" | "402" | "403" => p("Supra", 1),
        "600" | "601" | "602" | "603" => p("Gamma", 1),
        "650" => p("GammaDuo", 2),
        "701" | "702" => p("SupraHex", 6),
        "801" => p("GammaTurbo", 2),
        _ => None,
    }
}

/// The single-chip product a chip implies when nothing better is known.
pub fn from_chip(chip: &str) -> Option<&'static str> {
    match chip.trim() {
        "BM1397" => Some("Max"),
        "BM1366" => Some("Ultra"),
        "BM1368" => Some("Supra"),
        "BM1370" => Some("Gamma"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boards_map_to_products_not_chips() {
        assert_eq!(from_board_version("601").map(|p| p.name), Some("Gamma"));
        assert_eq!(
            from_board_version("302"),
            Some(Product {
                name: "Hex",
                chips: 6
            })
        );
        assert_eq!(
            from_board_version("801"),
            Some(Product {
                name: "GammaTurbo",
                chips: 2
            })
        );
        assert_eq!(from_board_version("0.11").map(|p| p.name), Some("Ultra"));
        assert_eq!(from_board_version("999"), None);
        assert_eq!(from_chip("BM1368"), Some("Supra"));
    }
}
