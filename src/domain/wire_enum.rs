//! `wire_enum!`: the one way a closed set of names (channels, statuses, roles, tiers, products…) becomes
//! an enum. Each variant names its wire string once; serde, `as_str`, `FromStr` (with an error that
//! lists what is accepted), `Display` and `ALL` all come from that one list, so they cannot disagree.

/// Defines a string-backed enum: `Name("what it is") { Variant = "wire", … }`.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident ($what:literal) {
        $($(#[$vdoc:meta])* $variant:ident = $wire:literal),+ $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$vdoc])* #[serde(rename = $wire)] $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored and wire name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok(Self::$variant),)+
                    other => Err($crate::domain::ParseError(format!(
                        "unknown {} '{}' (expected {})",
                        $what,
                        other,
                        $crate::domain::wire_enum::one_of(&[$($wire),+]),
                    ))),
                }
            }
        }
    };
}

/// `a, b or c`: the accepted names in an error message.
pub(crate) fn one_of(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::{Channel, Product, Role, Tier};

    #[test]
    fn wire_names_round_trip_through_serde_and_from_str() -> Result<(), Box<dyn std::error::Error>> {
        for product in Product::ALL {
            assert_eq!(serde_json::to_value(product)?, product.as_str());
            assert_eq!(product.as_str().parse::<Product>()?, *product);
        }
        assert_eq!(serde_json::to_value(Product::SalesAgent)?, "sales-agent");
        assert_eq!(serde_json::from_value::<Tier>("enterprise".into())?, Tier::Enterprise);
        assert_eq!(Tier::default(), Tier::Basic);
        assert_eq!(Role::Owner.as_str(), "owner");
        Ok(())
    }

    #[test]
    fn unknown_names_say_what_is_accepted() {
        let err = "warp-drive".parse::<Product>().err().map(|e| e.0);
        assert_eq!(
            err.as_deref(),
            Some("unknown product 'warp-drive' (expected chatbot, sales-agent, data-enrichment or setup-agent)")
        );
        let err = "fax".parse::<Channel>().err().map(|e| e.0);
        assert_eq!(err.as_deref(), Some("unknown channel 'fax' (expected widget, messenger or whatsapp)"));
    }
}
