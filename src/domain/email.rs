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
        let domain_ok =
            domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains('@');
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
        for bad in ["", "sarah", "@coffee.shop", "sarah@", "sarah@shop", "a b@c.de", "a@b@c.de", "a@.de"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
