//! Passwords of applications and operators: argon2id PHC strings, made by `varco hash-password`
//! and checked by the REST authenticator and the configuration's demo-password guard.

/// The argon2id PHC hash of a password (a fresh random salt each time).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// Whether `password` matches a PHC hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    use argon2::password_hash::phc::PasswordHash;
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Whether `phc` is a PHC string (what `password_hash` must hold).
pub fn is_phc(phc: &str) -> bool {
    argon2::password_hash::phc::PasswordHash::new(phc).is_ok()
}
