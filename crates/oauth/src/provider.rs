//! OAuth providers: endpoints, scopes and the extra parameters that make them issue a refresh
//! token, with the real Google and Microsoft endpoints as defaults (tests point them elsewhere).

use courier_core::{Endpoint, FieldError, OAuthClient, Secret};

/// Where and how to authorize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The provider's name (`google`, `microsoft`), as error messages name it.
    pub name: &'static str,
    /// Where people are sent to consent.
    pub authorization_url: String,
    /// The endpoint that exchanges codes and refresh tokens for tokens.
    pub token_url: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// Extra authorization-URL parameters (e.g. Google's `access_type=offline`).
    pub extra_params: Vec<(String, String)>,
}

impl Provider {
    /// Its token and authorization endpoints as a connector declares them: at
    /// `/auth_config/token_url` and `/auth_config/authorization_url` when the auth_config sets
    /// them, else at `default_path` (the field that chose the provider's own). The
    /// authorization endpoint is where people are sent to consent; it is declared so that it
    /// too stays bound to the client's credentials.
    pub fn endpoints(
        &self,
        token_url_set: bool,
        authorization_url_set: bool,
        default_path: &str,
    ) -> Vec<Endpoint> {
        let at = |set: bool, path: &'static str| if set { path } else { default_path };
        [
            Endpoint::url(at(token_url_set, "/auth_config/token_url"), &self.token_url),
            Endpoint::url(
                at(authorization_url_set, "/auth_config/authorization_url"),
                &self.authorization_url,
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Google Drive: per-file access, offline access and forced consent so a refresh token is
    /// always issued.
    pub fn google_drive() -> Self {
        Provider {
            name: "google",
            authorization_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            scopes: vec!["https://www.googleapis.com/auth/drive.file".into()],
            extra_params: vec![
                ("access_type".into(), "offline".into()),
                ("prompt".into(), "consent".into()),
            ],
        }
    }

    /// Microsoft Graph (OneDrive / SharePoint): `offline_access` yields a refresh token, which
    /// Microsoft rotates on every refresh.
    pub fn onedrive() -> Self {
        Provider {
            name: "microsoft",
            authorization_url: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize"
                .into(),
            token_url: "https://login.microsoftonline.com/common/oauth2/v2.0/token".into(),
            scopes: vec!["Files.ReadWrite".into(), "offline_access".into()],
            extra_params: vec![("prompt".into(), "consent".into())],
        }
    }

    /// Microsoft for one tenant (`common`, `organizations`, `consumers` or a tenant id/domain).
    pub fn onedrive_tenant(tenant: &str) -> Self {
        let base = format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0");
        Provider::onedrive().with_urls(format!("{base}/authorize"), format!("{base}/token"))
    }

    /// The same provider with another token endpoint (the authorization URL is kept).
    pub fn with_token_url(mut self, token_url: impl Into<String>) -> Self {
        self.token_url = token_url.into();
        self
    }

    /// This provider with one client registration, as a connector declares it to hosts.
    pub fn client(self, client_id: &str, client_secret: Option<&Secret>) -> OAuthClient {
        OAuthClient {
            provider: self.name,
            authorization_url: self.authorization_url,
            token_url: self.token_url,
            scopes: self.scopes,
            extra_params: self.extra_params,
            client_id: client_id.to_string(),
            client_secret: client_secret.cloned(),
        }
    }

    /// The provider part of a declared client.
    pub fn of_client(client: &OAuthClient) -> Self {
        Provider {
            name: client.provider,
            authorization_url: client.authorization_url.clone(),
            token_url: client.token_url.clone(),
            scopes: client.scopes.clone(),
            extra_params: client.extra_params.clone(),
        }
    }

    /// The same provider with other endpoints (a tenant, a sovereign cloud, a local fake).
    pub fn with_urls(
        mut self,
        authorization_url: impl Into<String>,
        token_url: impl Into<String>,
    ) -> Self {
        self.authorization_url = authorization_url.into();
        self.token_url = token_url.into();
        self
    }
}

/// The problem with an endpoint URL in a connector's config (API base, token or authorization
/// URL), at `path`: it must be an absolute http(s) URL with a host.
pub fn check_endpoint(path: &str, value: &str) -> Option<FieldError> {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => None,
        _ => Some(FieldError::new(path, "must be an http(s) URL")),
    }
}
