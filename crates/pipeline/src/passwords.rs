//! Passwords (SMPP accounts, console users): argon2id with a random 16-byte salt, run off
//! the async threads and at most two at once, so that a bind storm burns at most two cores'
//! worth of hashing whatever its size. Console sign-ins verify under permits of their own
//! ([`verify_sign_in`]), so that a sign-in storm, which needs no credential to start,
//! never queues SMPP binds behind it; past a wait they are refused as `throttled`.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;
use tokio::sync::Semaphore;
use tongdao_domain::Rejection;

static HASHING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(2));
static SIGN_IN_HASHING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(2));
/// How long a sign-in waits for a permit before it is refused.
const SIGN_IN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) async fn hash_password(password: &str) -> Result<String, Rejection> {
    let _permit = HASHING.acquire().await.map_err(|_| Rejection::internal())?;
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|_| Rejection::internal())?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|_| Rejection::internal())
    })
    .await
    .map_err(|_| Rejection::internal())?
}

pub(crate) async fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(_permit) = HASHING.acquire().await else { return false };
    verify(password, hash).await
}

/// A console sign-in's check: `throttled` when the sign-in permits stay taken for
/// [`SIGN_IN_WAIT`].
pub(crate) async fn verify_sign_in(password: &str, hash: &str) -> Result<bool, Rejection> {
    let busy = || Rejection {
        retry_after: Some(1),
        ..Rejection::new(tongdao_domain::ErrorCode::Throttled, "too many sign-ins at once; try again")
    };
    let permit = tokio::time::timeout(SIGN_IN_WAIT, SIGN_IN_HASHING.acquire()).await.map_err(|_| busy())?;
    let _permit = permit.map_err(|_| Rejection::internal())?;
    Ok(verify(password, hash).await)
}

async fn verify(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_are_hashed_with_argon2id_and_verified() {
        let hash = hash_password("s3cret").await.expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("s3cret"));
        assert!(verify_password("s3cret", &hash).await);
        assert!(!verify_password("s3cre7", &hash).await);
        assert!(!verify_password("s3cret", "not a hash").await);
    }
}
