//! Token-endpoint failures as classified connector errors: `invalid_grant` means a person must
//! reconnect; a bad client is a config problem; transport trouble is transient.

use courier_core::{ConnectorError, ErrorKind};
use oauth2::RequestTokenError;
use oauth2::basic::{BasicErrorResponse, BasicErrorResponseType};

use crate::token_http::TokenHttpError;

pub type TokenError = RequestTokenError<TokenHttpError, BasicErrorResponse>;

pub fn classify(provider: &str, error: TokenError) -> ConnectorError {
    match error {
        RequestTokenError::ServerResponse(response) => match response.error() {
            BasicErrorResponseType::InvalidGrant => ConnectorError::new(
                ErrorKind::ReauthRequired,
                format!(
                    "{provider} no longer accepts this destination's authorization (invalid_grant: revoked, expired or the password changed)"
                ),
                "reconnect the destination: run the OAuth flow again",
            ),
            BasicErrorResponseType::InvalidClient | BasicErrorResponseType::UnauthorizedClient => {
                ConnectorError::new(
                    ErrorKind::Unauthenticated,
                    format!("{provider} refused the OAuth client ({})", response.error()),
                    "check client_id and client_secret in auth_config",
                )
            }
            BasicErrorResponseType::Extension(code)
                if matches!(code.as_str(), "temporarily_unavailable" | "server_error") =>
            {
                ConnectorError::new(
                    ErrorKind::Unavailable,
                    format!("{provider}'s token endpoint is failing for now ({code})"),
                    "the request is retried",
                )
            }
            // Microsoft identity asks for the person again (MFA, consent, a new sign-in).
            BasicErrorResponseType::Extension(code)
                if matches!(
                    code.as_str(),
                    "interaction_required" | "consent_required" | "login_required"
                ) =>
            {
                ConnectorError::new(
                    ErrorKind::ReauthRequired,
                    format!("{provider} needs the person to sign in again ({code})"),
                    "reconnect the destination: run the OAuth flow again",
                )
            }
            other => ConnectorError::new(
                ErrorKind::Rejected,
                format!("{provider}'s token endpoint refused the request ({other})"),
                "check the OAuth client's configuration at the provider",
            ),
        },
        RequestTokenError::Request(TokenHttpError::Refused(refused)) => refused,
        RequestTokenError::Request(e) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("could not reach {provider}'s token endpoint"),
            "check network access to the provider; the request is retried",
        )
        .with_source(e),
        RequestTokenError::Parse(_, _) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!(
                "{provider}'s token endpoint answered with something that is not a token response"
            ),
            "check token_url; the provider may be failing, and the request is retried",
        ),
        RequestTokenError::Other(detail) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!(
                "{provider}'s token endpoint failed: {}",
                detail.chars().take(200).collect::<String>()
            ),
            "the request is retried",
        ),
    }
}
