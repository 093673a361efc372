//! A license's account-security policy: second factor, session lifetime, password rules and the
//! addresses its members may work from. Parsing is validation, as everywhere in the domain.

use super::ParseError;
use ipnet::IpNet;
use std::net::IpAddr;

/// Shortest password a policy may ask for (and the default).
pub const MIN_PASSWORD_LENGTH: u16 = 8;
/// Longest minimum a policy may ask for.
pub const MAX_PASSWORD_MIN_LENGTH: u16 = 128;
/// Longest password anyone may set, whatever the policy (argon2 cost stays bounded).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Longest session timeout a policy may set: 30 days.
pub const MAX_SESSION_TIMEOUT_MINUTES: u32 = 30 * 24 * 60;
/// Most entries an allow-list may hold.
pub const MAX_ALLOWLIST_ENTRIES: usize = 100;

/// The security policy of one license. The default is what a license without a stored policy gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityPolicy {
    /// Members must log in with a second factor (TOTP or a recovery code).
    pub require_two_factor: bool,
    /// Absolute lifetime of a session issued under this policy; `None` is the server's token TTL.
    pub session_timeout: Option<SessionTimeout>,
    /// What new passwords must look like.
    pub password: PasswordRule,
    /// Addresses members may log in and connect from; empty allows any.
    pub ip_allowlist: IpAllowlist,
}

impl Default for SecurityPolicy {
    fn default() -> Self {
        Self {
            require_two_factor: false,
            session_timeout: None,
            password: PasswordRule { min_length: MIN_PASSWORD_LENGTH, require_mixed: false },
            ip_allowlist: IpAllowlist::default(),
        }
    }
}

/// A session lifetime in whole minutes, 1 to [`MAX_SESSION_TIMEOUT_MINUTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimeout(u32);

impl SessionTimeout {
    /// Accepts 1 to 43,200 minutes.
    pub fn from_minutes(minutes: i64) -> Result<Self, ParseError> {
        u32::try_from(minutes).ok().filter(|m| (1..=MAX_SESSION_TIMEOUT_MINUTES).contains(m)).map(Self).ok_or_else(
            || ParseError(format!("session_timeout_minutes must be 1 to {MAX_SESSION_TIMEOUT_MINUTES}, not {minutes}")),
        )
    }

    /// The timeout in minutes.
    pub fn minutes(self) -> u32 {
        self.0
    }

    /// The timeout in seconds.
    pub fn seconds(self) -> i64 {
        i64::from(self.0) * 60
    }
}

/// The rule new passwords must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordRule {
    /// Fewest characters (8 to 128).
    pub min_length: u16,
    /// At least one letter and one digit.
    pub require_mixed: bool,
}

impl PasswordRule {
    /// A rule with a minimum of 8 to 128 characters.
    pub fn new(min_length: i64, require_mixed: bool) -> Result<Self, ParseError> {
        let range = MIN_PASSWORD_LENGTH..=MAX_PASSWORD_MIN_LENGTH;
        let min_length = u16::try_from(min_length).ok().filter(|n| range.contains(n)).ok_or_else(|| {
            ParseError(format!(
                "password_min_length must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_MIN_LENGTH}, not {min_length}"
            ))
        })?;
        Ok(Self { min_length, require_mixed })
    }

    /// Why `password` does not follow the rule, if it does not.
    pub fn check(&self, password: &str) -> Result<(), ParseError> {
        let length = password.chars().count();
        let min = usize::from(self.min_length);
        if !(min..=MAX_PASSWORD_CHARS).contains(&length) {
            return Err(ParseError(format!("the password must be {min} to {MAX_PASSWORD_CHARS} characters long")));
        }
        let mixed = password.chars().any(char::is_alphabetic) && password.chars().any(|c| c.is_ascii_digit());
        if self.require_mixed && !mixed {
            return Err(ParseError("the password must contain both letters and digits".into()));
        }
        Ok(())
    }
}

/// The networks a license's members may come from (IPv4 and IPv6 CIDRs); empty allows every address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowlist(Vec<IpNet>);

impl IpAllowlist {
    /// Parses CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or single addresses (`203.0.113.7`), at most 100.
    /// Host bits are cleared (`10.1.2.3/8` is kept as `10.0.0.0/8`) and duplicates dropped.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, ParseError> {
        if entries.len() > MAX_ALLOWLIST_ENTRIES {
            return Err(ParseError(format!("ip_allowlist holds at most {MAX_ALLOWLIST_ENTRIES} entries")));
        }
        let mut nets = Vec::with_capacity(entries.len());
        for entry in entries {
            let net = parse_network(entry.as_ref())
                .ok_or_else(|| ParseError(format!("'{}' is not an IPv4 or IPv6 address or CIDR", entry.as_ref())))?;
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        Ok(Self(nets))
    }

    /// Whether `address` may log in or connect. IPv4 clients reaching an IPv6 socket
    /// (`::ffff:10.0.0.1`) match IPv4 entries.
    pub fn allows(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.is_empty() || self.0.iter().any(|net| net.contains(&address))
    }

    /// The entries in their canonical text form (`10.0.0.0/8`).
    pub fn entries(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// Whether the list allows every address.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A CIDR with its host bits cleared, or a single address as a one-host network.
fn parse_network(raw: &str) -> Option<IpNet> {
    // A prefix is plain decimal: `/08` would parse, but is not how anyone writes one.
    if raw.split_once('/').is_some_and(|(_, prefix)| prefix.len() > 1 && prefix.starts_with('0')) {
        return None;
    }
    let net = raw.parse::<IpNet>().ok().or_else(|| raw.parse::<IpAddr>().ok().map(IpNet::from))?;
    Some(net.trunc())
}

/// The client's address: the peer's, or with `trust_forwarded` the last `X-Forwarded-For` hop (the one
/// our proxy added; earlier hops are the client's own claims). Rate limits and the allow-list key on it.
pub fn client_address(forwarded_for: Option<&str>, peer: Option<IpAddr>, trust_forwarded: bool) -> IpAddr {
    let forwarded = trust_forwarded.then(|| forwarded_for?.rsplit(',').next()?.trim().parse().ok()).flatten();
    forwarded.or(peer).unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn an_allowlist_matches_its_networks_in_both_families() {
        let list = IpAllowlist::parse(&["10.1.2.3/8", "2001:db8::/32", "203.0.113.7", "10.0.0.0/8"]).expect("parses");
        assert_eq!(list.entries(), ["10.0.0.0/8", "2001:db8::/32", "203.0.113.7/32"]);
        assert!(list.allows(ip("10.200.0.1")));
        assert!(list.allows(ip("::ffff:10.0.0.1")), "IPv4-mapped IPv6 matches the IPv4 entry");
        assert!(list.allows(ip("2001:db8::1")));
        assert!(list.allows(ip("203.0.113.7")));
        assert!(!list.allows(ip("203.0.113.8")));
        assert!(!list.allows(ip("127.0.0.1")));
        assert!(IpAllowlist::default().allows(ip("127.0.0.1")), "empty allows any");
        assert!(IpAllowlist::parse(&["10.0.0.0/33"]).is_err());
        assert!(IpAllowlist::parse(&["example.com"]).is_err());
        assert!(IpAllowlist::parse(&["10.0.0.0/08"]).is_err());
        assert!(IpAllowlist::parse(&[" 10.0.0.1"]).is_err());
        assert!(IpAllowlist::parse(&vec!["10.0.0.1"; 101]).is_err());
    }

    #[test]
    fn password_rules_bound_length_and_mix() {
        let rule = PasswordRule::new(12, true).expect("a valid rule");
        assert!(rule.check("abcdefghij12").is_ok());
        assert!(rule.check("abcdefghijkl").is_err(), "no digit");
        assert!(rule.check("123456789012").is_err(), "no letter");
        assert!(rule.check("abcdefgh1").is_err(), "too short");
        assert!(rule.check(&"a1".repeat(200)).is_err(), "too long");
        assert!(PasswordRule::new(7, false).is_err());
        assert!(PasswordRule::new(129, false).is_err());
    }

    #[test]
    fn session_timeouts_are_whole_minutes_within_a_month() {
        assert_eq!(SessionTimeout::from_minutes(1).map(SessionTimeout::seconds), Ok(60));
        assert!(SessionTimeout::from_minutes(0).is_err());
        assert!(SessionTimeout::from_minutes(43_201).is_err());
    }

    #[test]
    fn the_forwarded_address_counts_only_when_trusted() {
        let peer = Some(ip("10.0.0.1"));
        assert_eq!(client_address(Some("1.2.3.4, 5.6.7.8"), peer, true), ip("5.6.7.8"));
        assert_eq!(client_address(Some("1.2.3.4"), peer, false), ip("10.0.0.1"));
        assert_eq!(client_address(Some("junk"), peer, true), ip("10.0.0.1"));
    }
}
