//! The one HTTP core every provider shares: a request cache keyed by the request (never by
//! credentials), bounded retries on 429 (`Retry-After`) and 5xx (capped backoff), 4xx answers
//! kept with their body so errors can quote the service, and a check of `next` page links.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Settings of one provider's client. Tests point `api_url` at a server on loopback.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The API's base URL, e.g. `https://api.reccobeats.com/v1`.
    pub api_url: String,
    /// Response cache folder; `None` disables caching.
    pub cache_dir: Option<PathBuf>,
    /// Ignore cached responses (they are still rewritten). Default `false`.
    pub refresh: bool,
    /// Retries after a 429 or 5xx before giving up. Default 5.
    pub max_retries: u32,
    /// First backoff after a 5xx, doubled each time up to `max_backoff`. Default 500 ms.
    pub backoff: Duration,
    /// Default 8 s.
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; longer waits fail instead. Default 60 s.
    pub max_retry_after: Duration,
}

impl HttpOptions {
    /// Defaults for `api_url`, caching in `cache_dir`.
    pub fn new(api_url: &str, cache_dir: Option<PathBuf>) -> HttpOptions {
        HttpOptions {
            api_url: api_url.trim_end_matches('/').to_string(),
            cache_dir,
            refresh: false,
            max_retries: 5,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// How often and how patiently a request is retried (the copyable part of [`HttpOptions`]).
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub max_retries: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl HttpOptions {
    pub fn retry(&self) -> Retry {
        Retry {
            max_retries: self.max_retries,
            backoff: self.backoff,
            max_backoff: self.max_backoff,
        }
    }
}

/// A final answer: its status, its JSON body (`Null` when a 4xx had none), and whether it
/// came from the cache.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
    pub cached: bool,
}

impl Answer {
    /// The service's own words for a refusal, if its body has them (Spotify's
    /// `error.message`, ReccoBeats' `errors[].message` or `message`).
    pub fn message(&self) -> Option<String> {
        let b = &self.body;
        let text = b["error"]["message"]
            .as_str()
            .or_else(|| b["errors"][0]["message"].as_str())
            .or_else(|| b["message"].as_str())
            .or_else(|| b["error"].as_str())?;
        // Bounded and on one line: a hostile server cannot flood the terminal.
        let clean: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(200)
            .collect();
        Some(clean)
    }

    /// ` (from the cache; --refresh asks again)` for a cached refusal.
    pub fn origin(&self) -> &'static str {
        if self.cached {
            " (answer from the cache; --refresh asks again)"
        } else {
            ""
        }
    }
}

/// A request body: content type and bytes.
pub(crate) struct Body<'a> {
    pub content_type: String,
    pub bytes: &'a [u8],
}

pub(crate) struct Http {
    pub provider: &'static str,
    pub options: HttpOptions,
    agent: ureq::Agent,
    pub from_cache: usize,
    pub from_network: usize,
}

/// How a request authenticates: `None` sends no header; otherwise the function gives the
/// `Authorization` value (`force` = the last one was refused with 401, get a new one).
pub(crate) type Auth<'a> = Option<&'a mut dyn FnMut(&ureq::Agent, bool) -> Result<String>>;

impl Http {
    pub fn new(provider: &'static str, options: HttpOptions) -> Http {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        Http {
            provider,
            options,
            agent,
            from_cache: 0,
            from_network: 0,
        }
    }

    pub fn error(&self, message: String) -> Error {
        Error::Provider {
            provider: self.provider,
            message,
        }
    }

    /// The cache file of a request, keyed by the API's base URL and `key` (method, the path,
    /// and for uploads the file's hash): a mirror's or a test server's answers are never
    /// replayed to runs against another host.
    fn cache_path(&self, key: &str) -> Option<PathBuf> {
        let dir = self.options.cache_dir.as_ref()?;
        let digest = Sha256::digest(format!("{} {key}", self.options.api_url).as_bytes());
        let name = digest.iter().take(16).fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        Some(dir.join(format!("{name}.json")))
    }

    /// `GET {api_url}{path}`.
    pub fn get(&mut self, path: &str, what: &str, auth: Auth<'_>) -> Result<Answer> {
        self.send("GET", path, what, auth, None, &format!("GET {path}"))
    }

    /// Sends one request to `{api_url}{path}` (cached under `key`), retrying as documented.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        what: &str,
        mut auth: Auth<'_>,
        body: Option<Body<'_>>,
        key: &str,
    ) -> Result<Answer> {
        let url = format!("{}{path}", self.options.api_url);
        let cache = self.cache_path(key);
        if let (false, Some(p)) = (self.options.refresh, &cache) {
            if let Ok(text) = std::fs::read_to_string(p) {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    if let Some(status) = v["status"].as_u64() {
                        self.from_cache += 1;
                        return Ok(Answer {
                            status: status as u16,
                            body: v["body"].clone(),
                            cached: true,
                        });
                    }
                }
            }
        }
        let mut attempt = 0;
        let mut backoff = self.options.backoff;
        let mut refreshed = false;
        loop {
            let mut request = self.agent.request(method, &url);
            if let Some(a) = auth.as_mut() {
                let value = a(&self.agent, false)?;
                request = request.set("Authorization", &value);
            }
            let result = match &body {
                Some(b) => request
                    .set("Content-Type", &b.content_type)
                    .send_bytes(b.bytes),
                None => request.call(),
            };
            let (status, response) = match result {
                Ok(r) => (r.status(), Some(r)),
                Err(ureq::Error::Status(code, r)) => (code, Some(r)),
                Err(e) => {
                    // A bad URL or header, or a redirect loop, will not heal by waiting.
                    let permanent = matches!(
                        e.kind(),
                        ureq::ErrorKind::InvalidUrl
                            | ureq::ErrorKind::UnknownScheme
                            | ureq::ErrorKind::BadHeader
                            | ureq::ErrorKind::TooManyRedirects
                    );
                    if permanent || attempt >= self.options.max_retries {
                        return Err(self.error(format!(
                            "{what}: network error talking to {}: {}",
                            printable(&self.options.api_url),
                            e.kind()
                        )));
                    }
                    (0, None)
                }
            };
            match status {
                200..=299 => {
                    let text = read(response, what, self)?;
                    let body: Value = serde_json::from_str(&text).map_err(|_| {
                        self.error(format!("{what}: the API returned malformed JSON"))
                    })?;
                    self.from_network += 1;
                    self.store(cache.as_ref(), status, &body)?;
                    return Ok(Answer {
                        status,
                        body,
                        cached: false,
                    });
                }
                401 if !refreshed && auth.is_some() => {
                    refreshed = true;
                    if let Some(a) = auth.as_mut() {
                        a(&self.agent, true)?;
                    }
                    continue;
                }
                429 if attempt < self.options.max_retries => {
                    let wait = response
                        .as_ref()
                        .and_then(|r| r.header("Retry-After"))
                        .and_then(|s| s.trim().parse::<u64>().ok())
                        .map(Duration::from_secs)
                        .unwrap_or(backoff)
                        .max(backoff);
                    if wait > self.options.max_retry_after {
                        return Err(self.error(format!(
                            "{what}: rate limited for {} s (Retry-After); try again later",
                            wait.as_secs()
                        )));
                    }
                    std::thread::sleep(wait);
                    backoff = (backoff * 2).min(self.options.max_backoff);
                }
                0 | 500..=599 if attempt < self.options.max_retries => {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(self.options.max_backoff);
                }
                429 => {
                    return Err(self.error(format!(
                        "{what}: still rate limited after {attempt} retries"
                    )))
                }
                400..=499 => {
                    // Kept with the service's words; cached only when definitive (a bad
                    // request, a refusal, an unknown id), so a rerun behaves the same offline
                    // but an expired token or a timeout is asked again.
                    let text = read(response, what, self).unwrap_or_default();
                    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                    self.from_network += 1;
                    // Not 403: a refusal depends on the credentials, which the key leaves out.
                    if matches!(status, 400 | 404 | 410 | 422) {
                        self.store(cache.as_ref(), status, &body)?;
                    }
                    return Ok(Answer {
                        status,
                        body,
                        cached: false,
                    });
                }
                code => {
                    return Err(self.error(format!("{what}: HTTP {code} after {attempt} retries")))
                }
            }
            attempt += 1;
        }
    }

    fn store(&self, path: Option<&PathBuf>, status: u16, body: &Value) -> Result<()> {
        if let Some(p) = path {
            let doc = serde_json::json!({ "status": status, "body": body });
            crate::atomic::write(p, doc.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// The path (relative to the API) of a page's `next` link, if it stays on this API under
    /// `prefix`; otherwise an error: a link to another host would receive the credentials.
    /// `official` is the service's real base URL, whose links are rebased onto a configured
    /// mirror.
    pub fn next_path(
        &self,
        next: &str,
        official: &str,
        prefix: &str,
        what: &str,
        cached: bool,
    ) -> Result<String> {
        // A page answered from the cache may name the host that served it then (the cache
        // is keyed without the host): its link is taken relative to the listing and sent to
        // the configured API, so no request reaches that host either.
        let mut rest = if cached {
            next.find(prefix).map(|k| &next[k..])
        } else {
            None
        };
        for base in [self.options.api_url.as_str(), official] {
            if rest.is_some() {
                break;
            }
            if let Some(r) = next.strip_prefix(base) {
                if r.starts_with('/') {
                    rest = Some(r);
                    break;
                }
            }
        }
        match rest {
            // No dot segments, plain or percent-encoded: the path stays in the listing.
            Some(r)
                if r.starts_with(prefix)
                    && !r.contains("..")
                    && !r.split('?').next().unwrap_or_default().contains('%') =>
            {
                Ok(r.to_string())
            }
            Some(_) => Err(self.error(format!(
                "{what}: the next page's link leaves the listing ({}); refusing to follow it",
                printable(next)
            ))),
            None => Err(self.error(format!(
                "{what}: the next page's link points to another host ({}), not {}; refusing to send the credentials there",
                printable(next),
                self.options.api_url
            ))),
        }
    }
}

fn read(response: Option<ureq::Response>, what: &str, http: &Http) -> Result<String> {
    match response {
        Some(r) => r
            .into_string()
            .map_err(|e| http.error(format!("{what}: unreadable response: {e}"))),
        None => Ok(String::new()),
    }
}

/// `s` cut to 120 characters with control characters replaced, for error messages.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(120)
        .collect()
}
