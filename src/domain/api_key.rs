//! API keys: the secret a tenant's backend sends as `X-API-Key`, and the scopes that bound what it may do.

use super::ParseError;
use rand::{distributions::Uniform, Rng};
use sha2::{Digest, Sha256};

/// Every secret starts with this, so leaked keys are easy to recognise (and to scan for).
pub const API_KEY_PREFIX: &str = "sk_live_";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const SECRET_LEN: usize = 32;
/// How much of a secret lists show: the fixed prefix and four random characters.
const SHOWN_LEN: usize = API_KEY_PREFIX.len() + 4;

wire_enum!(
    /// What an API key may do.
    Scope("scope") {
        /// List and read conversations and their messages.
        ConversationsRead = "conversations:read",
        /// Reply to, close and reopen conversations, and mark them read.
        ConversationsWrite = "conversations:write",
        /// Send commands to the widget.
        WidgetCommand = "widget:command",
        /// Manage outgoing webhooks.
        WebhooksManage = "webhooks:manage",
        /// Read the license's API usage.
        UsageRead = "usage:read",
    }
);

/// A non-empty set of scopes, without repeats, in declaration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Parses scope names; an unknown one or an empty list is refused.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, ParseError> {
        let scopes = names.iter().map(|name| name.as_ref().parse()).collect::<Result<Vec<Scope>, _>>()?;
        Self::new(scopes)
    }

    /// A set of `scopes`; an empty one is refused.
    pub fn new(given: Vec<Scope>) -> Result<Self, ParseError> {
        let mut scopes = Vec::new();
        for scope in given {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(ParseError("an API key needs at least one scope".into()));
        }
        scopes.sort_by_key(|s| Scope::ALL.iter().position(|a| a == s));
        Ok(Self(scopes))
    }

    /// Whether `scope` is granted.
    pub fn allows(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// The scopes, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// Stored form: comma-separated names.
    pub fn to_stored(&self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(",")
    }
}

/// An API key's secret: `sk_live_` and 32 base62 characters from the OS CSPRNG (~190 bits). Only its
/// hash is stored; the secret itself is shown once, when the key is created.
#[derive(Clone)]
pub struct ApiKeySecret(String);

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKeySecret(<redacted>)")
    }
}

/// `len` random ASCII letters and digits from the OS's generator: the random part of every secret we issue.
pub(super) fn random_alphanumeric(len: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    let pick = Uniform::from(0..SECRET_ALPHABET.len());
    (0..len).map(|_| char::from(SECRET_ALPHABET.get(rng.sample(pick)).copied().unwrap_or(b'0'))).collect()
}

impl ApiKeySecret {
    /// A fresh secret.
    pub fn generate() -> Self {
        Self(format!("{API_KEY_PREFIX}{}", random_alphanumeric(SECRET_LEN)))
    }

    /// Accepts exactly the shape [`ApiKeySecret::generate`] makes.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let well_formed = raw
            .strip_prefix(API_KEY_PREFIX)
            .is_some_and(|rest| rest.len() == SECRET_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric()));
        if well_formed {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseError(format!("not an API key (expected {API_KEY_PREFIX} and {SECRET_LEN} letters or digits)")))
        }
    }

    /// The secret itself, to show once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps and looks keys up by: SHA-256, hex. A fast hash is enough: the secret has
    /// ~190 random bits, so nothing can be guessed from it.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// The part lists show.
    pub fn shown_prefix(&self) -> String {
        self.0.chars().take(SHOWN_LEN).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_and_hash_stably() {
        let secret = ApiKeySecret::generate();
        assert!(secret.expose().starts_with("sk_live_") && secret.expose().len() == 40);
        let parsed = ApiKeySecret::parse(secret.expose()).map(|s| s.hash());
        assert_eq!(parsed.ok(), Some(secret.hash()));
        assert_ne!(secret.hash(), ApiKeySecret::generate().hash());
        assert_eq!(secret.shown_prefix().len(), 12);
        assert!(!format!("{secret:?}").contains(secret.expose()));
        for bad in
            ["", "sk_live_", "sk_test_abcdefghijklmnopqrstuvwxyz012345", "sk_live_abc-defghijklmnopqrstuvwxyz01234"]
        {
            assert!(ApiKeySecret::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_are_known_deduplicated_and_non_empty() {
        let scopes = Scopes::parse(&["usage:read", "conversations:read", "usage:read"]).ok();
        assert_eq!(scopes.as_ref().map(Scopes::to_stored).as_deref(), Some("conversations:read,usage:read"));
        assert!(scopes.is_some_and(|s| s.allows(Scope::UsageRead) && !s.allows(Scope::ConversationsWrite)));
        assert!(Scopes::parse(&["conversations:delete"]).is_err());
        assert!(Scopes::parse::<&str>(&[]).is_err());
    }
}
