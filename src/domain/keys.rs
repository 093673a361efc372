//! License keys (the tenant id) and product keys (one per purchased product).

use super::{ParseError, Product};
use rand::{distributions::Uniform, Rng};
use serde::{Deserialize, Serialize};
use std::fmt;

const LICENSE_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const PRODUCT_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const PRODUCT_SUFFIX_LEN: usize = 16;

/// Draws `len` characters of `alphabet` from the operating system's CSPRNG.
fn random_chars(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    let pick = Uniform::from(0..alphabet.len());
    (0..len).map(|_| char::from(alphabet.get(rng.sample(pick)).copied().unwrap_or(b'0'))).collect()
}

/// `INTL-XXXX-XXXX-XXXX` with uppercase alphanumerics: the tenant id on every row, key, topic and room.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct LicenseKey(String);

/// Reading a key from JSON (a token's claims) validates it like [`LicenseKey::parse`].
impl TryFrom<String> for LicenseKey {
    type Error = ParseError;
    fn try_from(raw: String) -> Result<Self, ParseError> {
        Self::parse(&raw)
    }
}

impl From<LicenseKey> for String {
    fn from(key: LicenseKey) -> Self {
        key.0
    }
}

impl LicenseKey {
    /// A fresh key from the CSPRNG (36^12 ≈ 4.7e18 possibilities).
    pub fn generate() -> Self {
        let groups: Vec<String> = (0..3).map(|_| random_chars(LICENSE_ALPHABET, 4)).collect();
        Self(format!("INTL-{}", groups.join("-")))
    }

    /// Accepts exactly the `INTL-XXXX-XXXX-XXXX` shape; surrounding whitespace is forgiven, case is not.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let key = raw.trim();
        let groups: Vec<&str> = key.split('-').collect();
        let well_formed = groups.len() == 4
            && groups.first() == Some(&"INTL")
            && groups
                .iter()
                .skip(1)
                .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        if well_formed {
            Ok(Self(key.to_owned()))
        } else {
            Err(ParseError(format!(
                "'{key}' is not a license key (expected INTL-XXXX-XXXX-XXXX, uppercase letters and digits)"
            )))
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LicenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `chat_` / `sale_` / `data_` / `agnt_` followed by 16 lowercase alphanumerics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ProductKey(String);

impl ProductKey {
    /// A fresh key for `product` from the CSPRNG.
    pub fn generate(product: Product) -> Self {
        Self(format!("{}_{}", product.key_prefix(), random_chars(PRODUCT_ALPHABET, PRODUCT_SUFFIX_LEN)))
    }

    /// Accepts a known prefix, an underscore and exactly 16 lowercase alphanumerics.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let key = raw.trim();
        let valid = key.split_once('_').is_some_and(|(prefix, suffix)| {
            Product::from_key_prefix(prefix).is_some()
                && suffix.len() == PRODUCT_SUFFIX_LEN
                && suffix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if valid {
            Ok(Self(key.to_owned()))
        } else {
            Err(ParseError(format!(
                "'{key}' is not a product key (expected chat_, sale_, data_ or agnt_ and 16 lowercase letters or digits)"
            )))
        }
    }

    /// The product this key opens.
    pub fn product(&self) -> Product {
        self.0.split_once('_').and_then(|(prefix, _)| Product::from_key_prefix(prefix)).unwrap_or(Product::Chatbot)
        // unreachable: parse and generate guarantee a known prefix
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProductKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_license_keys_parse_and_differ() {
        let a = LicenseKey::generate();
        assert_eq!(LicenseKey::parse(a.as_str()), Ok(a.clone()));
        assert_ne!(a, LicenseKey::generate());
    }

    #[test]
    fn license_key_shape_is_strict() {
        assert!(LicenseKey::parse("INTL-8K3M-QB7X-2024").is_ok());
        for bad in [
            "",
            "INTL-8K3M-QB7X",
            "intl-8k3m-qb7x-2024",
            "INTL-8K3M-QB7X-20245",
            "XXXX-8K3M-QB7X-2024",
            "INTL-8K3M-QB7X-20_4",
        ] {
            assert!(LicenseKey::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn product_keys_round_trip_for_every_product() {
        for &product in Product::ALL {
            let key = ProductKey::generate(product);
            assert!(key.as_str().starts_with(&format!("{}_", product.key_prefix())));
            assert_eq!(ProductKey::parse(key.as_str()).map(|k| k.product()), Ok(product));
        }
    }

    #[test]
    fn product_key_shape_is_strict() {
        for bad in [
            "chat_",
            "chat_ABCDEFGHIJKLMNOP",
            "chat_abc",
            "xxxx_abcdefghijklmnop",
            "chat-abcdefghijklmnop",
            "chat_abcdefghijklmnopq",
        ] {
            assert!(ProductKey::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
