//! Response bodies read with a cap: a service (or whatever a tenant's URL points at) cannot
//! make a connector hold more than the cap in memory by answering with a huge body.

use courier_core::{ConnectorError, ErrorKind};

/// The most of an error answer kept (enough for any service's error document).
pub const ERROR_BODY_CAP: usize = 64 * 1024;
/// The most of a successful JSON answer read (metadata, listings, upload sessions).
pub const JSON_BODY_CAP: usize = 8 * 1024 * 1024;

/// Up to `cap` bytes of the body, and whether there was more (the rest is not read).
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// The start of an error answer's body, as text (empty when it could not be read).
pub async fn error_text(response: reqwest::Response) -> String {
    match read_capped(response, ERROR_BODY_CAP).await {
        Ok((body, _)) => String::from_utf8_lossy(&body).into_owned(),
        Err(_) => String::new(),
    }
}

/// A successful answer's body as JSON text, refused when over [`JSON_BODY_CAP`].
pub async fn json_text(
    service: &str,
    what: &str,
    response: reqwest::Response,
) -> Result<String, ConnectorError> {
    let (body, more) = read_capped(response, JSON_BODY_CAP)
        .await
        .map_err(|e| crate::transport_error(service, e))?;
    if more {
        return Err(ConnectorError::new(
            ErrorKind::Unavailable,
            format!(
                "{service} answered {what} with more than {} MiB",
                JSON_BODY_CAP >> 20
            ),
            "check the API base URL: it should name the service's API",
        ));
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use courier_fakes::Flood;

    use super::*;

    #[tokio::test]
    async fn huge_answers_are_cut_at_the_cap() {
        let flood = Flood::start("200 OK", "application/json").await;
        let http = reqwest::Client::new();
        let answer = http.get(&flood.url).send().await.unwrap();
        let e = json_text("Graph", "a listing", answer).await.unwrap_err();
        assert!(e.message.contains("more than 8 MiB"), "{}", e.message);

        let flood = Flood::start("500 Internal Server Error", "text/plain").await;
        let answer = http.get(&flood.url).send().await.unwrap();
        assert_eq!(error_text(answer).await.len(), ERROR_BODY_CAP);
    }
}
