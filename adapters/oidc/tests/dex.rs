//! The whole sign-in against a real OpenID provider: Dex on loopback, started by
//! `infra/local/dex up` (which writes `dex.env`). An HTTP client plays the browser: it follows
//! the authorization URL to Dex's login form, posts a test user's credentials and reads the
//! redirect to the callback. Skipped loudly without Dex, failing instead under
//! `TODO_REQUIRE_STACK=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, LOCATION};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secrecy::{ExposeSecret, SecretString};
use todo_adapter_oidc::{Callback, Oidc, OidcConfig, OidcError, PendingLogin};
use todo_auth::{AuthConfig, JwtVerifier};
use todo_contract_tests::stack::{dex, dex_env_file};
use todo_ports::{IdentityError, TokenVerifier};

// ---------------------------------------------------------------- the provider

struct Dex {
    env: HashMap<String, String>,
    oidc: Oidc,
}

impl Dex {
    fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{} has no {key}; rerun infra/local/dex up", dex_env_file().display()))
    }

    fn config(env: &HashMap<String, String>) -> OidcConfig {
        let config = OidcConfig::from_lookup(|key| env.get(key).cloned()).unwrap();
        config.expect("dex.env has the four OIDC_* settings")
    }

    /// The test user `n`'s email and password (TEST-ONLY credentials of infra/local/dex).
    fn user(&self, n: u8) -> (String, String) {
        (
            self.get(&format!("TODO_DEX_USER{n}_EMAIL")).to_owned(),
            self.get(&format!("TODO_DEX_USER{n}_PASSWORD")).to_owned(),
        )
    }

    /// What a service reads from its environment: the `AUTH_*` the relying party names.
    fn service_verifier(&self, overrides: &[(&str, &str)]) -> JwtVerifier {
        let mut settings: HashMap<String, String> =
            self.oidc.service_settings().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        for (k, v) in overrides {
            settings.insert((*k).to_owned(), (*v).to_owned());
        }
        match AuthConfig::from_lookup(|key| settings.get(key).cloned()).unwrap() {
            AuthConfig::Jwt(config) => JwtVerifier::new(&config).unwrap(),
            other => panic!("the service settings do not configure JWTs: {other:?}"),
        }
    }
}

async fn up(test: &str) -> Option<Dex> {
    let env = dex(test)?;
    let oidc = Oidc::discover(Dex::config(&env)).await.expect("discovery of the running Dex");
    Some(Dex { env, oidc })
}

// ---------------------------------------------------------------- the browser

/// What a browser does with a page: no cookies (Dex keeps the sign-in in its URLs), no
/// JavaScript, redirects followed by hand so the test sees the one to the callback.
struct Browser {
    client: Client<HttpConnector, Full<Bytes>>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new() -> Self {
        Self { client: Client::builder(TokioExecutor::new()).build_http() }
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Page {
        let response = self.client.request(request).await.unwrap();
        let status = response.status();
        let location = response.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Page { status, location, body: String::from_utf8_lossy(&body).into_owned() }
    }

    async fn get(&self, url: &str) -> Page {
        self.send(Request::get(url).body(Full::new(Bytes::new())).unwrap()).await
    }

    async fn post_form(&self, url: &str, pairs: &[(&str, &str)]) -> Page {
        let form = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        let request = Request::post(url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form)))
            .unwrap();
        self.send(request).await
    }

    /// Follows redirects from `url` to the page that answers 200 (the login form); its URL and
    /// body.
    async fn open(&self, url: &str) -> (String, Page) {
        let mut url = url.to_owned();
        for _ in 0..5 {
            let page = self.get(&url).await;
            match page.status {
                StatusCode::OK => return (url, page),
                s if s.is_redirection() => url = resolve(&url, page.location.as_deref().unwrap()),
                s => panic!("GET {url} answered {s}: {}", page.body),
            }
        }
        panic!("too many redirects from {url}");
    }

    /// Signs in as the user at the provider's form: the answer to the form's POST.
    async fn sign_in(&self, authorize_url: &str, email: &str, password: &str) -> Page {
        let (form_url, form) = self.open(authorize_url).await;
        assert!(form.body.contains(r#"name="password""#), "not a login form at {form_url}: {}", form.body);
        let action = resolve(&form_url, &form_action(&form.body));
        self.post_form(&action, &[("login", email), ("password", password)]).await
    }
}

/// `location` made absolute against `base`.
fn resolve(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let base: Uri = base.parse().unwrap();
    format!("{}://{}{location}", base.scheme_str().unwrap(), base.authority().unwrap())
}

/// The `action` of the page's POST form, HTML entities decoded.
fn form_action(html: &str) -> String {
    let start =
        html.find(r#"<form method="post" action=""#).expect("a POST form") + r#"<form method="post" action=""#.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end]
        .replace("&amp;", "&")
        .replace("&#43;", "+")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// Begins a sign-in and has the user get through the form: the redirect to the callback.
async fn through_the_form(dex: &Dex, user: u8) -> (PendingLogin, Callback) {
    let (url, pending) = dex.oidc.begin().unwrap();
    let (email, password) = dex.user(user);
    let answer = Browser::new().sign_in(&url, &email, &password).await;
    assert!(answer.status.is_redirection(), "the form answered {}: {}", answer.status, answer.body);
    let location = answer.location.unwrap();
    let redirect = dex.get("OIDC_REDIRECT_URL");
    let query = location.strip_prefix(&format!("{redirect}?")).unwrap_or_else(|| panic!("{location}"));
    (pending, Callback::from_query(query).unwrap())
}

// ---------------------------------------------------------------- the flow

#[tokio::test]
async fn alice_signs_in_and_the_services_accept_her_id_token() {
    let Some(dex) = up("alice_signs_in").await else { return };
    let issuer = dex.get("OIDC_ISSUER_URL");
    assert_eq!(dex.oidc.provider().issuer, issuer);
    assert_eq!(dex.oidc.provider().jwks_uri, format!("{issuer}/keys"));
    assert_eq!(
        dex.oidc.service_settings().map(|(k, v)| format!("{k}={v}")).to_vec(),
        ["AUTH_JWKS_URL", "AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_USER_CLAIM"].map(|k| format!("{k}={}", dex.get(k))),
        "the relying party and infra/local/dex agree on the services' settings"
    );

    let (pending, callback) = through_the_form(&dex, 1).await;
    assert_eq!(callback.state, pending.state());
    let signed_in = dex.oidc.finish(&pending, &callback.code, &callback.state).await.unwrap();

    assert_eq!(signed_in.user_id.as_str(), "alice@example.com");
    let now = SystemTime::now();
    assert!(signed_in.expires_at > now && signed_in.expires_at < now + Duration::from_secs(2 * 3600));
    assert!(!format!("{signed_in:?}").contains(signed_in.id_token.expose_secret()));

    let service = dex.service_verifier(&[]);
    let user = service.verify(signed_in.id_token.expose_secret()).await.unwrap();
    assert_eq!(user.as_str(), "alice@example.com");
}

#[tokio::test]
async fn bob_signs_in_as_bob() {
    let Some(dex) = up("bob_signs_in").await else { return };
    let (pending, callback) = through_the_form(&dex, 2).await;
    let signed_in = dex.oidc.finish(&pending, &callback.code, &callback.state).await.unwrap();
    assert_eq!(signed_in.user_id.as_str(), "bob@example.com");
    let user = dex.service_verifier(&[]).verify(signed_in.id_token.expose_secret()).await.unwrap();
    assert_eq!(user.as_str(), "bob@example.com");
}

#[tokio::test]
async fn a_callback_with_another_state_is_refused_before_the_code_is_spent() {
    let Some(dex) = up("wrong_state").await else { return };
    let (pending, callback) = through_the_form(&dex, 1).await;
    let (_, other) = dex.oidc.begin().unwrap();
    for state in [other.state(), "", &format!("{}x", callback.state)] {
        assert_eq!(dex.oidc.finish(&pending, &callback.code, state).await.unwrap_err(), OidcError::StateMismatch);
    }
    // The refusal spent nothing: the genuine callback still signs in.
    let signed_in = dex.oidc.finish(&pending, &callback.code, &callback.state).await.unwrap();
    assert_eq!(signed_in.user_id.as_str(), "alice@example.com");
}

#[tokio::test]
async fn a_code_signs_in_once() {
    let Some(dex) = up("replayed_code").await else { return };
    let (pending, callback) = through_the_form(&dex, 1).await;
    dex.oidc.finish(&pending, &callback.code, &callback.state).await.unwrap();
    match dex.oidc.finish(&pending, &callback.code, &callback.state).await.unwrap_err() {
        OidcError::Denied { error, .. } => assert_eq!(error, "invalid_grant"),
        other => panic!("a replayed code gave {other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_password_never_yields_a_code() {
    let Some(dex) = up("wrong_password").await else { return };
    let (url, _pending) = dex.oidc.begin().unwrap();
    let (email, password) = dex.user(1);
    for wrong in [format!("{password}x"), String::new(), dex.user(2).1] {
        let answer = Browser::new().sign_in(&url, &email, &wrong).await;
        // Dex shows the form again, answering 401.
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(answer.location.is_none());
        assert!(answer.body.contains(r#"name="password""#) && !answer.body.contains("code="), "{}", answer.body);
    }
    let answer = Browser::new().sign_in(&url, "mallory@example.com", &password).await;
    assert!(answer.status == StatusCode::UNAUTHORIZED && answer.location.is_none());
}

#[tokio::test]
async fn the_code_is_bound_to_the_pkce_verifier_and_the_token_to_the_nonce() {
    let Some(dex) = up("pkce_and_nonce").await else { return };
    let (_, stranger) = dex.oidc.begin().unwrap();
    let parts = |p: &PendingLogin| p.encode().split('.').map(str::to_owned).collect::<Vec<_>>();

    // The right state with another attempt's verifier: the provider refuses the code.
    let (pending, callback) = through_the_form(&dex, 1).await;
    let (mine, theirs) = (parts(&pending), parts(&stranger));
    let wrong_verifier = PendingLogin::decode(&format!("v1.{}.{}.{}", mine[1], mine[2], theirs[3])).unwrap();
    match dex.oidc.finish(&wrong_verifier, &callback.code, &callback.state).await.unwrap_err() {
        OidcError::Denied { error, .. } => assert_eq!(error, "invalid_grant"),
        other => panic!("a wrong verifier gave {other:?}"),
    }

    // The right state and verifier with another attempt's nonce: the ID token is refused.
    let (pending, callback) = through_the_form(&dex, 1).await;
    let mine = parts(&pending);
    let wrong_nonce = PendingLogin::decode(&format!("v1.{}.{}.{}", mine[1], theirs[2], mine[3])).unwrap();
    match dex.oidc.finish(&wrong_nonce, &callback.code, &callback.state).await.unwrap_err() {
        OidcError::InvalidIdToken(why) => assert!(why.contains("nonce"), "{why}"),
        other => panic!("a wrong nonce gave {other:?}"),
    }
}

fn assert_refused(verdict: Result<todo_ports::model::UserId, IdentityError>, reason: &str) {
    match verdict {
        Err(IdentityError::Invalid(why)) => assert_eq!(why, reason),
        other => panic!("expected a refusal ({reason}), got {other:?}"),
    }
}

#[tokio::test]
async fn a_tampered_id_token_is_refused() {
    let Some(dex) = up("tampered_token").await else { return };
    let (pending, callback) = through_the_form(&dex, 1).await;
    let token = dex.oidc.finish(&pending, &callback.code, &callback.state).await.unwrap().id_token;
    let token = token.expose_secret();
    let segments: Vec<&str> = token.split('.').collect();
    let service = dex.service_verifier(&[]);

    // Alice's token made to say bob, the signature kept.
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(segments[1]).unwrap()).unwrap();
    assert!(payload.contains("alice@example.com"));
    let bob = URL_SAFE_NO_PAD.encode(payload.replace("alice@example.com", "bob@example.com"));
    let forged = format!("{}.{bob}.{}", segments[0], segments[2]);
    assert_refused(service.verify(&forged).await, "bad signature");

    // The signature itself altered.
    let mut signature = URL_SAFE_NO_PAD.decode(segments[2]).unwrap();
    signature[0] ^= 1;
    let altered = format!("{}.{}.{}", segments[0], segments[1], URL_SAFE_NO_PAD.encode(signature));
    assert_refused(service.verify(&altered).await, "bad signature");

    // Unaltered, it is still refused by a service expecting another audience or issuer.
    let other_audience = dex.service_verifier(&[("AUTH_AUDIENCE", "another-client")]);
    assert_refused(other_audience.verify(token).await, "wrong audience");
    let other_issuer = dex.service_verifier(&[("AUTH_ISSUER", "http://127.0.0.1:1/dex")]);
    assert_refused(other_issuer.verify(token).await, "wrong issuer");
    assert_eq!(service.verify(token).await.unwrap().as_str(), "alice@example.com");
}

#[tokio::test]
async fn discovery_holds_the_provider_to_the_configured_issuer() {
    let Some(env) = dex("discovery_issuer") else { return };
    let config = Dex::config(&env);
    let slash = OidcConfig::new(
        format!("{}/", config.issuer),
        config.client_id.clone(),
        SecretString::from("unused"),
        config.redirect_url.clone(),
    )
    .unwrap();
    match Oidc::discover(slash).await.unwrap_err() {
        OidcError::Provider(why) => assert!(why.contains("names issuer"), "{why}"),
        other => panic!("{other:?}"),
    }
    let nowhere = OidcConfig::new(
        format!("{}-nowhere", config.issuer),
        config.client_id,
        SecretString::from("unused"),
        config.redirect_url,
    )
    .unwrap();
    assert!(matches!(Oidc::discover(nowhere).await.unwrap_err(), OidcError::Provider(why) if why.contains("404")));
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_at_the_token_endpoint() {
    let Some(env) = dex("wrong_secret") else { return };
    let mut config = Dex::config(&env);
    config.client_secret = SecretString::from("not-the-secret");
    let oidc = Oidc::discover(config).await.unwrap();
    let dex = Dex { env, oidc };
    let (pending, callback) = through_the_form(&dex, 1).await;
    match dex.oidc.finish(&pending, &callback.code, &callback.state).await.unwrap_err() {
        OidcError::Denied { error, .. } => assert_eq!(error, "invalid_client"),
        other => panic!("{other:?}"),
    }
}
