#![doc = include_str!("../README.md")]

use std::error::Error;
use std::time::Duration;

use http::Uri;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The client [`https_client`] builds, sending bodies of type `B`.
pub type HttpsClient<B> = Client<HttpsConnector<HttpConnector>, B>;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// TLS could not be set up (rustls refused its provider's defaults).
#[derive(Debug, thiserror::Error)]
#[error("TLS client: {0}")]
pub struct TlsError(String);

/// A pooled client for `https://` (rustls, ring, Mozilla's roots) and `http://` URLs; each
/// connection attempt gives up after `connect_timeout` when one is given.
///
/// # Errors
/// [`TlsError`] when rustls cannot be set up with its defaults.
pub fn https_client<B>(connect_timeout: Option<Duration>) -> Result<HttpsClient<B>, TlsError>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(connect_timeout);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| TlsError(e.to_string()))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).pool_idle_timeout(POOL_IDLE).build(https))
}

/// Whether `uri` names `localhost` or a loopback address (`127.0.0.0/8`, `[::1]`).
pub fn is_loopback(uri: &Uri) -> bool {
    match uri.host() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// `error` and its sources, outermost first, joined by `": "`.
pub fn error_chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn loopback_is_localhost_and_the_loopback_addresses_only() {
        for (url, loopback) in [
            ("http://localhost:8080/x", true),
            ("http://127.0.0.1/", true),
            ("http://127.8.9.10:1/", true),
            ("http://[::1]:3000/", true),
            ("http://10.0.0.1/", false),
            ("https://example.com/", false),
            ("http://localhost.example.com/", false),
            ("http://[::2]/", false),
        ] {
            assert_eq!(is_loopback(&url.parse().unwrap()), loopback, "{url}");
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn an_error_chain_names_every_source_outermost_first() {
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(error_chain(&error), "outer: inner");
    }

    #[tokio::test]
    async fn a_connection_refused_is_an_error_that_says_so() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let client = https_client::<http_body_util::Empty<bytes::Bytes>>(Some(Duration::from_secs(2))).unwrap();
        let uri: Uri = format!("http://127.0.0.1:{port}/").parse().unwrap();
        let error = client.get(uri).await.unwrap_err();
        let text = error_chain(&error);
        assert!(text.contains("onnect"), "{text}");
    }
}
