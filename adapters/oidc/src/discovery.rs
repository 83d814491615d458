//! The provider's metadata (OpenID Connect Discovery 1.0): where to send the browser, where to
//! exchange the code, where the signing keys are, and what the provider supports.

use http::Uri;
use serde::Deserialize;

use crate::OidcError;
use crate::config::{OidcConfigError, check_url};

/// What the relying party uses of the provider's discovery document. Endpoints are `https`
/// (or `http` on a loopback host, as the issuer may be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// `issuer`: equal to the configured issuer, character for character.
    pub issuer: String,
    /// `authorization_endpoint`: where [`crate::Oidc::begin`]'s URL points.
    pub authorization_endpoint: String,
    /// `token_endpoint`: where the code is exchanged.
    pub token_endpoint: String,
    /// `jwks_uri`: the key set that signs ID tokens; the services' `AUTH_JWKS_URL`.
    pub jwks_uri: String,
    /// `token_endpoint_auth_methods_supported` (the spec's default when absent:
    /// `client_secret_basic`).
    pub token_endpoint_auth_methods: Vec<String>,
    /// `code_challenge_methods_supported` (empty when the document does not say).
    pub code_challenge_methods: Vec<String>,
}

#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    response_types_supported: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// HTTP Basic with the form-encoded id and secret (RFC 6749, section 2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

impl ProviderMetadata {
    /// Reads and checks a discovery document for `expected_issuer`.
    ///
    /// # Errors
    /// [`OidcError::Provider`] when it is not a discovery document, names another issuer,
    /// has an endpoint that is not `https` (or loopback `http`), supports neither the `code`
    /// response type nor PKCE `S256` where it lists them, or neither way of sending the client
    /// secret.
    pub(crate) fn parse(body: &[u8], expected_issuer: &str) -> Result<Self, OidcError> {
        let doc: Document = serde_json::from_slice(body)
            .map_err(|e| OidcError::Provider(format!("the discovery document cannot be read: {e}")))?;
        if doc.issuer != expected_issuer {
            return Err(OidcError::Provider(format!(
                "the discovery document names issuer {:?}, not the configured {expected_issuer:?}",
                doc.issuer
            )));
        }
        for (name, url) in [
            ("authorization_endpoint", &doc.authorization_endpoint),
            ("token_endpoint", &doc.token_endpoint),
            ("jwks_uri", &doc.jwks_uri),
        ] {
            endpoint(name, url)?;
        }
        if !doc.response_types_supported.is_empty() && !doc.response_types_supported.iter().any(|t| t == "code") {
            return Err(OidcError::Provider("the provider does not support the code flow (response_type=code)".into()));
        }
        if !doc.code_challenge_methods_supported.is_empty()
            && !doc.code_challenge_methods_supported.iter().any(|m| m == "S256")
        {
            return Err(OidcError::Provider("the provider does not support PKCE with S256".into()));
        }
        let metadata = Self {
            issuer: doc.issuer,
            authorization_endpoint: doc.authorization_endpoint,
            token_endpoint: doc.token_endpoint,
            jwks_uri: doc.jwks_uri,
            token_endpoint_auth_methods: doc
                .token_endpoint_auth_methods_supported
                .unwrap_or_else(|| vec!["client_secret_basic".to_owned()]),
            code_challenge_methods: doc.code_challenge_methods_supported,
        };
        metadata.client_auth()?;
        Ok(metadata)
    }

    /// `client_secret_basic` when the provider takes it (the spec's default), else
    /// `client_secret_post`.
    pub(crate) fn client_auth(&self) -> Result<ClientAuth, OidcError> {
        let supports = |m: &str| self.token_endpoint_auth_methods.iter().any(|s| s == m);
        if supports("client_secret_basic") {
            Ok(ClientAuth::Basic)
        } else if supports("client_secret_post") {
            Ok(ClientAuth::Post)
        } else {
            Err(OidcError::Provider(
                "the token endpoint takes neither client_secret_basic nor client_secret_post".into(),
            ))
        }
    }
}

/// An endpoint's URL, held to the issuer's rule (`https`, or `http` on a loopback host).
pub(crate) fn endpoint(name: &str, url: &str) -> Result<Uri, OidcError> {
    check_url("discovery", url).map_err(|e| match e {
        OidcConfigError::Invalid { why, .. } => OidcError::Provider(format!("{name} {url:?} {why}")),
        OidcConfigError::Missing(_) => OidcError::Provider(format!("{name} is missing")),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "http://127.0.0.1:55556/dex";

    fn doc(extra: serde_json::Value) -> Vec<u8> {
        let mut base = json!({
            "issuer": ISSUER,
            "authorization_endpoint": "http://127.0.0.1:55556/dex/auth",
            "token_endpoint": "http://127.0.0.1:55556/dex/token",
            "jwks_uri": "http://127.0.0.1:55556/dex/keys",
            "response_types_supported": ["code"],
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::to_vec(&base).unwrap()
    }

    #[test]
    fn a_document_for_the_issuer_is_read_with_the_spec_s_defaults() {
        let metadata = ProviderMetadata::parse(&doc(json!({})), ISSUER).unwrap();
        assert_eq!(metadata.token_endpoint, "http://127.0.0.1:55556/dex/token");
        assert_eq!(metadata.jwks_uri, "http://127.0.0.1:55556/dex/keys");
        assert_eq!(metadata.client_auth().unwrap(), ClientAuth::Basic);
        let post = doc(json!({"token_endpoint_auth_methods_supported": ["client_secret_post"]}));
        assert_eq!(ProviderMetadata::parse(&post, ISSUER).unwrap().client_auth().unwrap(), ClientAuth::Post);
    }

    #[test]
    fn another_issuer_or_an_unusable_provider_is_refused() {
        let refused = |body: Vec<u8>, issuer: &str| match ProviderMetadata::parse(&body, issuer) {
            Err(OidcError::Provider(why)) => why,
            other => panic!("expected a provider error, got {other:?}"),
        };
        assert!(refused(doc(json!({})), "http://127.0.0.1:55556/dex/").contains("names issuer"));
        assert!(refused(doc(json!({"issuer": "http://127.0.0.1:1/evil"})), ISSUER).contains("names issuer"));
        assert!(
            refused(doc(json!({"token_endpoint": "http://evil.example/token"})), ISSUER).contains("token_endpoint")
        );
        assert!(refused(doc(json!({"response_types_supported": ["id_token"]})), ISSUER).contains("code flow"));
        assert!(refused(doc(json!({"code_challenge_methods_supported": ["plain"]})), ISSUER).contains("S256"));
        assert!(
            refused(doc(json!({"token_endpoint_auth_methods_supported": ["private_key_jwt"]})), ISSUER)
                .contains("neither")
        );
        assert!(refused(b"<html>".to_vec(), ISSUER).contains("cannot be read"));
    }
}
