//! Argon2id password hashing, run on the blocking pool so that a login never stalls a socket loop.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// A hash of a password nobody has, verified when the e-mail is unknown so that the
/// response time does not tell which addresses are registered.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c3dpdGNoYm9hcmRkZWNveQ$0CWMyXqwQX0xhkeb6fABM2twp7HlVJOUX3IL0pi5iGQ";

/// Hashes `password` into a PHC string.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    })
    .await?
}

/// Checks `password` against `phc`, or against a decoy when there is no user.
pub async fn verify_password(password: String, phc: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| DECOY_HASH.to_owned());
        let parsed = PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored hash is malformed: {e}"))?;
        let matches = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        Ok(known && matches)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() -> anyhow::Result<()> {
        let phc = hash_password("SecurePass123".into()).await?;
        assert!(verify_password("SecurePass123".into(), Some(phc.clone())).await?);
        assert!(!verify_password("securepass123".into(), Some(phc)).await?);
        Ok(())
    }

    #[tokio::test]
    async fn the_decoy_never_matches() -> anyhow::Result<()> {
        assert!(!verify_password("anything".into(), None).await?);
        Ok(())
    }
}
