//! How token requests are sent: through a guarded client ([`courier_net`]: names resolved once
//! with every address checked, addresses in the URL checked, no proxy, no redirect, since a
//! token endpoint is a URL a tenant may set), with the answer read up to a cap.

use std::fmt;

use courier_core::ConnectorError;
use oauth2::{HttpRequest, HttpResponse};

/// The most of a token endpoint's answer read.
const TOKEN_BODY_CAP: usize = 256 * 1024;

/// Why a token request got no usable answer.
#[derive(Debug)]
pub enum TokenHttpError {
    /// The guard refused the endpoint (a non-public address).
    Refused(ConnectorError),
    Transport(reqwest::Error),
    /// The answer was over [`TOKEN_BODY_CAP`].
    TooLarge,
    /// The request could not be made into an HTTP request.
    Invalid(String),
}

impl fmt::Display for TokenHttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenHttpError::Refused(e) => write!(f, "{}", e.message),
            TokenHttpError::Transport(e) => write!(f, "{}", e.without_url_ref()),
            TokenHttpError::TooLarge => {
                write!(f, "the answer was over {} KiB", TOKEN_BODY_CAP / 1024)
            }
            TokenHttpError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for TokenHttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TokenHttpError::Transport(e) => Some(e),
            _ => None,
        }
    }
}

/// The URL-less form of a request error, for messages (token URLs may carry secrets).
trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let mut text = self.to_string();
        if let Some(url) = self.url() {
            text = text.replace(url.as_str(), "<token endpoint>");
        }
        text
    }
}

/// Sends one token request through `http`.
pub async fn send(
    http: reqwest::Client,
    allow_private: bool,
    request: HttpRequest,
) -> Result<HttpResponse, TokenHttpError> {
    courier_net::check_url(
        "the token endpoint",
        &request.uri().to_string(),
        allow_private,
    )
    .map_err(TokenHttpError::Refused)?;
    let request =
        reqwest::Request::try_from(request).map_err(|e| TokenHttpError::Invalid(e.to_string()))?;
    let response = http
        .execute(request)
        .await
        .map_err(|e| match courier_net::refusal(&e) {
            Some(refused) => {
                TokenHttpError::Refused(courier_net::refused("the token endpoint", refused))
            }
            None => TokenHttpError::Transport(e),
        })?;
    let status = response.status();
    let headers = response.headers().clone();
    let (body, more) = crate::body::read_capped(response, TOKEN_BODY_CAP)
        .await
        .map_err(TokenHttpError::Transport)?;
    if more {
        return Err(TokenHttpError::TooLarge);
    }
    let mut answer = http::Response::builder().status(status);
    if let Some(h) = answer.headers_mut() {
        *h = headers;
    }
    answer
        .body(body)
        .map_err(|e| TokenHttpError::Invalid(e.to_string()))
}
