//! The HTTP(S) client that talks to the provider: discovery (GET) and the token endpoint (POST
//! of a form), each bounded in time and size. `https` goes through rustls (ring, the webpki
//! roots), as the services' key set fetches do; redirects are not followed.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use todo_http_client::{HttpsClient, error_chain, https_client};

use crate::OidcError;

/// The largest answer read from the provider.
const MAX_BODY_BYTES: usize = 1024 * 1024;

const AGENT: &str = concat!("todo-adapter-oidc/", env!("CARGO_PKG_VERSION"));

/// An answer: its status and body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

#[derive(Clone)]
pub(crate) struct HttpClient {
    client: HttpsClient<Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    pub(crate) fn new(timeout: Duration) -> Result<Self, OidcError> {
        let client = https_client(None).map_err(|e| OidcError::Internal(e.to_string()))?;
        Ok(Self { client, timeout })
    }

    /// `GET uri`, accepting JSON.
    pub(crate) async fn get(&self, uri: Uri) -> Result<Answer, OidcError> {
        let request = Request::get(uri)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, AGENT)
            .body(Full::new(Bytes::new()))
            .map_err(|e| OidcError::Internal(e.to_string()))?;
        self.send(request).await
    }

    /// `POST uri` with a form body and, when given, an `Authorization` header.
    pub(crate) async fn post_form(
        &self,
        uri: Uri,
        form: String,
        authorization: Option<HeaderValue>,
    ) -> Result<Answer, OidcError> {
        let mut builder = Request::post(uri)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(USER_AGENT, AGENT);
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        let request = builder.body(Full::new(Bytes::from(form))).map_err(|e| OidcError::Internal(e.to_string()))?;
        self.send(request).await
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Result<Answer, OidcError> {
        let target = format!("{} {}", request.method(), request.uri());
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| OidcError::Unavailable(format!("{target}: {}", error_chain(&e))))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    OidcError::Unavailable(format!("{target}: reading the answer: {}", error_chain(e.as_ref())))
                })?
                .to_bytes();
            Ok(Answer { status, body })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| OidcError::Unavailable(format!("{target}: no answer within {:?}", self.timeout)))?
    }
}
