//! A normalised e-mail address.

use super::ParseError;

/// An e-mail address, trimmed and lower-cased so that lookups are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain.tld` shapes of at most 254 characters; full RFC 5322 is not worth its edge cases.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let email = raw.trim().to_ascii_lowercase();
        let invalid = || ParseError(format!("'{}' is not a valid e-mail address", raw.trim()));
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        // Host-name labels (RFC 1123): letters, digits and inner hyphens, 1–63 characters each.
        let label_ok = |label: &str| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let domain_ok = domain.contains('.') && domain.split('.').all(label_ok);
        if local.is_empty() || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn normalises_case_and_whitespace() {
        assert_eq!(Email::parse(" Sarah@Coffee.Shop ").map(|e| e.0), Ok("sarah@coffee.shop".into()));
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "sarah",
            "@coffee.shop",
            "sarah@",
            "sarah@shop",
            "a b@c.de",
            "a@b@c.de",
            "a@.de",
            "a@x.-.de",
            "a@b..de",
            "a@b_c.de",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
