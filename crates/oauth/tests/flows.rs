//! The OAuth flow and token manager against a local token endpoint (wiremock: OAuth providers
//! have no emulator), following the providers' documented request and response shapes.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use courier_core::{ErrorKind, Secret};
use courier_oauth::{
    Attempt, MemoryTokenStore, OAuthApp, Provider, TokenManager, TokenStore, Tokens,
};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DEST: &str = "dest_42";

fn app(server: &MockServer) -> Arc<OAuthApp> {
    let provider = Provider::onedrive().with_urls(
        format!("{}/authorize", server.uri()),
        format!("{}/token", server.uri()),
    );
    Arc::new(
        OAuthApp::new(
            provider,
            "client-1",
            Some(&Secret::new("client-secret-sentinel")),
            "http://127.0.0.1:8765/callback",
            true,
        )
        .unwrap(),
    )
}

fn expired(refresh: &str) -> Tokens {
    Tokens {
        access_token: Secret::new("at-old"),
        refresh_token: Some(Secret::new(refresh)),
        expires_at: Some(SystemTime::now() - Duration::from_secs(10)),
        scopes: vec![],
    }
}

fn token_json(access: &str, refresh: Option<&str>) -> serde_json::Value {
    let mut v =
        serde_json::json!({"access_token": access, "token_type": "Bearer", "expires_in": 3600});
    if let Some(r) = refresh {
        v["refresh_token"] = r.into();
    }
    v
}

#[tokio::test]
async fn authorization_url_has_pkce_scopes_offline_access_and_a_bound_state() {
    let server = MockServer::start().await;
    let google = Provider::google_drive().with_urls(
        format!("{}/auth", server.uri()),
        format!("{}/token", server.uri()),
    );
    let app = OAuthApp::new(google, "cid", None, "http://127.0.0.1:9/cb", true).unwrap();
    let pending = app.start(DEST);
    let url = url::Url::parse(&pending.url).unwrap();
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "cid");
    assert_eq!(q["redirect_uri"], "http://127.0.0.1:9/cb");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["code_challenge"].len() >= 43);
    assert_eq!(q["scope"], "https://www.googleapis.com/auth/drive.file");
    assert_eq!(
        (q["access_type"].as_str(), q["prompt"].as_str()),
        ("offline", "consent")
    );
    assert_eq!(q["state"], pending.state.expose());
    assert_eq!(OAuthApp::destination_of_state(&q["state"]), Some(DEST));
    assert_ne!(
        app.start(DEST).state.expose(),
        pending.state.expose(),
        "a fresh nonce every time"
    );
}

#[tokio::test]
async fn code_exchange_checks_state_and_sends_the_verifier() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=the-code"))
        .and(body_string_contains("code_verifier="))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-1", Some("rt-1"))))
        .expect(1)
        .mount(&server)
        .await;
    let app = app(&server);

    let pending = app.start(DEST);
    let err = app
        .complete(pending, "dest_42.forged", "the-code")
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Rejected);

    let pending = app.start(DEST);
    let state = pending.state.expose().to_string();
    let challenge = url::Url::parse(&pending.url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code_challenge")
        .unwrap()
        .1
        .into_owned();
    let debug = format!("{pending:?}");
    let tokens = app.complete(pending, &state, "the-code").await.unwrap();
    // The verifier sent is the one the challenge was made from (S256), and it never printed.
    let requests = server.received_requests().await.unwrap();
    let body = String::from_utf8(requests.last().unwrap().body.clone()).unwrap();
    let verifier = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "code_verifier")
        .unwrap()
        .1
        .into_owned();
    use base64::Engine;
    use sha2::Digest;
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    assert_eq!(expected, challenge);
    assert!(!debug.contains(&verifier));
    assert_eq!(tokens.access_token.expose(), "at-1");
    assert_eq!(tokens.refresh_token.unwrap().expose(), "rt-1");
    assert!(tokens.expires_at.unwrap() > SystemTime::now() + Duration::from_secs(3500));
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh_and_the_rotated_token_is_stored_first() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_json("at-2", Some("rt-2")))
                .set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let store = Arc::new(MemoryTokenStore::with(DEST, expired("rt-1")));
    let manager = Arc::new(TokenManager::new(app(&server), store.clone(), DEST));
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.access_token().await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap().expose(), "at-2");
    }
    let saved = store.get(DEST).unwrap();
    assert_eq!(
        saved.refresh_token.unwrap().expose(),
        "rt-2",
        "the rotated refresh token is stored"
    );
    assert_eq!(saved.access_token.expose(), "at-2");
}

#[tokio::test]
async fn the_next_refresh_uses_the_rotated_token_and_a_kept_token_survives() {
    let server = MockServer::start().await;
    Mock::given(body_string_contains("refresh_token=rt-2"))
        // No refresh_token in the answer (Google): the previous one stays in force.
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"access_token": "at-3", "token_type": "Bearer", "expires_in": 1}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let store = Arc::new(MemoryTokenStore::with(DEST, expired("rt-2")));
    let manager =
        TokenManager::new(app(&server), store.clone(), DEST).with_margin(Duration::from_secs(60));
    assert_eq!(manager.access_token().await.unwrap().expose(), "at-3");
    assert_eq!(
        store.get(DEST).unwrap().refresh_token.unwrap().expose(),
        "rt-2"
    );
}

#[tokio::test]
async fn invalid_grant_is_reauth_required_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})))
        .expect(1)
        .mount(&server)
        .await;
    let store = Arc::new(CountingStore::new(MemoryTokenStore::with(
        DEST,
        expired("rt-revoked"),
    )));
    let manager = TokenManager::new(app(&server), store.clone(), DEST);
    let mut loads_after_first = 0;
    for call in 0..3 {
        let e = manager.access_token().await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::ReauthRequired);
        assert!(!e.is_retryable());
        assert!(
            e.hint.contains("reconnect") || e.hint.contains("OAuth"),
            "{e:?}"
        );
        if call == 0 {
            loads_after_first = store.loads();
        }
    }
    // Within the recheck interval (30 s) a revoked destination does not read its store either.
    assert_eq!(store.loads(), loads_after_first);
}

/// A token store that counts its loads.
#[derive(Debug)]
struct CountingStore {
    inner: MemoryTokenStore,
    loads: std::sync::atomic::AtomicUsize,
}

impl CountingStore {
    fn new(inner: MemoryTokenStore) -> Self {
        CountingStore {
            inner,
            loads: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn loads(&self) -> usize {
        self.loads.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl TokenStore for CountingStore {
    async fn load(&self, id: &str) -> Result<Option<Tokens>, courier_core::ConnectorError> {
        self.loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.load(id).await
    }

    async fn save(&self, id: &str, tokens: &Tokens) -> Result<(), courier_core::ConnectorError> {
        self.inner.save(id, tokens).await
    }
}

#[tokio::test]
async fn a_rotation_by_another_client_is_not_taken_for_a_revocation() {
    // Two replicas share one store and both find the access token expired. The provider
    // rotates strictly: rt-1 works once (slowly), and is refused from then on.
    let server = MockServer::start().await;
    Mock::given(body_string_contains("refresh_token=rt-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_json("at-2", Some("rt-2")))
                .set_delay(Duration::from_millis(300)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(body_string_contains("refresh_token=rt-1"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_grant"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let store = Arc::new(MemoryTokenStore::with(DEST, expired("rt-1")));
    let first = Arc::new(TokenManager::new(app(&server), store.clone(), DEST));
    let second = TokenManager::new(app(&server), store.clone(), DEST);
    let early = tokio::spawn({
        let first = first.clone();
        async move { first.access_token().await }
    });
    // The first refresh has reached the provider (which answers it 300 ms later).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first refresh never reached the provider"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Refused while the first refresh is in flight: the second waits for the stored rotation.
    assert_eq!(second.access_token().await.unwrap().expose(), "at-2");
    assert_eq!(early.await.unwrap().unwrap().expose(), "at-2");
    assert_eq!(
        store.get(DEST).unwrap().refresh_token.unwrap().expose(),
        "rt-2"
    );
}

/// A token endpoint that refuses every refresh as revoked, and expects exactly one.
async fn revoking_provider() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_grant"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_caller_that_gives_up_while_the_store_is_watched_leaves_the_refusal_remembered() {
    let server = revoking_provider().await;
    let store = Arc::new(MemoryTokenStore::with(DEST, expired("rt-revoked")));
    let manager = TokenManager::new(app(&server), store, DEST);
    // An attempt's timeout cuts the watch for another client's rotation short.
    let _ = tokio::time::timeout(Duration::from_millis(400), manager.access_token()).await;
    // The next call knows the grant was refused: no second request with the dead token
    // (the token endpoint expects exactly one).
    let e = manager.access_token().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ReauthRequired);
}

#[tokio::test]
async fn a_revoked_destination_picks_up_a_reconnection_from_the_store() {
    let server = revoking_provider().await;
    let store = Arc::new(MemoryTokenStore::with(DEST, expired("rt-revoked")));
    let manager = TokenManager::new(app(&server), store.clone(), DEST)
        .with_revocation_recheck(Duration::ZERO);
    for _ in 0..2 {
        let e = manager.access_token().await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::ReauthRequired);
    }
    // A person reconnects: the host stores new tokens; no refresh is needed to use them.
    let reconnected = Tokens {
        access_token: Secret::new("at-new"),
        refresh_token: Some(Secret::new("rt-new")),
        expires_at: Some(SystemTime::now() + Duration::from_secs(3600)),
        scopes: vec![],
    };
    store.save(DEST, &reconnected).await.unwrap();
    assert_eq!(manager.access_token().await.unwrap().expose(), "at-new");
}

#[tokio::test]
async fn a_401_triggers_one_refresh_and_one_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-new", None)))
        // One refresh per refused token: once in the first call, once in the second.
        .expect(2)
        .mount(&server)
        .await;
    let fresh = Tokens {
        access_token: Secret::new("at-revoked-early"),
        refresh_token: Some(Secret::new("rt-1")),
        expires_at: Some(SystemTime::now() + Duration::from_secs(3600)),
        scopes: vec![],
    };
    let store = Arc::new(MemoryTokenStore::with(DEST, fresh));
    let manager = TokenManager::new(app(&server), store, DEST);
    let seen = std::sync::Mutex::new(Vec::new());
    let result = manager
        .call(|token| {
            seen.lock().unwrap().push(token.expose().to_string());
            async move {
                if token.expose() == "at-new" {
                    Attempt::Done(Ok("uploaded"))
                } else {
                    Attempt::Unauthorized
                }
            }
        })
        .await;
    assert_eq!(result.unwrap(), "uploaded");
    assert_eq!(*seen.lock().unwrap(), ["at-revoked-early", "at-new"]);

    // Refused again after the refresh: a person must reconnect; no third attempt.
    let count = std::sync::atomic::AtomicUsize::new(0);
    let result: Result<(), _> = manager
        .call(|_| {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Attempt::Unauthorized }
        })
        .await;
    assert_eq!(result.unwrap_err().kind, ErrorKind::ReauthRequired);
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn transport_failures_are_transient_and_missing_tokens_need_a_connection() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
        .mount(&server)
        .await;
    let manager = TokenManager::new(
        app(&server),
        Arc::new(MemoryTokenStore::with(DEST, expired("rt-1"))),
        DEST,
    );
    let e = manager.access_token().await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");

    let empty: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::default());
    let e = TokenManager::new(app(&server), empty, DEST)
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ReauthRequired);
}

#[tokio::test]
async fn nothing_prints_a_secret() {
    let server = MockServer::start().await;
    let app = app(&server);
    let pending = app.start(DEST);
    let tokens = expired("rt-sentinel-value");
    let manager = TokenManager::new(
        app.clone(),
        Arc::new(MemoryTokenStore::with(DEST, tokens.clone())),
        DEST,
    );
    let out = format!("{app:?} {pending:?} {tokens:?} {manager:?}");
    // The state travels in the authorization URL by design; the PKCE verifier never does.
    for secret in ["client-secret-sentinel", "rt-sentinel-value", "at-old"] {
        assert!(!out.contains(secret), "{secret} leaked: {out}");
    }
}

#[tokio::test]
async fn a_token_endpoint_on_a_private_network_is_never_called_unless_allowed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at", None)))
        .mount(&server)
        .await;
    let port = server.address().port();
    for token_url in [
        format!("http://127.0.0.1:{port}/token"),
        format!("http://localhost:{port}/token"),
    ] {
        let provider = Provider::onedrive().with_urls(
            format!("http://localhost:{port}/authorize"),
            token_url.clone(),
        );
        let app = OAuthApp::for_refresh(provider, "client-1", None, false).unwrap();
        let e = app.refresh(&Secret::new("rt-sentinel")).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidConfig, "{token_url}: {e:?}");
        assert!(e.message.contains("SSRF guard"), "{}", e.message);
    }
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "the token endpoint was called"
    );
}
