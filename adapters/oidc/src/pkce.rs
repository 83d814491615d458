//! Proof Key for Code Exchange (RFC 7636) with the `S256` method, and the random values of a
//! sign-in (`state`, `nonce`, the code verifier).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Random bytes behind each `state`, `nonce` and code verifier: 256 bits, which base64url
/// makes 43 characters (RFC 7636 asks the verifier for 43 to 128 unreserved characters).
pub(crate) const RANDOM_BYTES: usize = 32;

/// A fresh random value, base64url without padding (`[A-Za-z0-9_-]{43}`).
///
/// # Errors
/// When the operating system's random source fails.
pub(crate) fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; RANDOM_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The `S256` code challenge of `verifier`: `BASE64URL(SHA256(ASCII(verifier)))`
/// (RFC 7636, section 4.2).
pub(crate) fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `value` could be a code verifier: 43 to 128 characters of
/// `[A-Za-z0-9-._~]` (RFC 7636, section 4.1).
pub(crate) fn is_verifier(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_of_the_rfc_7636_example_verifier_is_the_rfc_s() {
        // RFC 7636, Appendix B.
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_tokens_are_valid_verifiers_and_differ() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.len(), 43);
        assert!(is_verifier(&a) && is_verifier(&b));
        assert_ne!(a, b);
    }

    #[test]
    fn verifiers_are_43_to_128_unreserved_characters() {
        assert!(is_verifier(&"a".repeat(43)) && is_verifier(&"~._-".repeat(32)));
        assert!(!is_verifier(&"a".repeat(42)) && !is_verifier(&"a".repeat(129)));
        assert!(!is_verifier(&format!("{}+", "a".repeat(43))));
    }
}
