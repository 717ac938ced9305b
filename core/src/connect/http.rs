//! The HTTP discipline every connector shares: a timeout on every call, bearer authentication refreshed once on
//! 401, retries with jittered exponential backoff on 429/503 (honouring `Retry-After`) and on connection
//! failures, and answers turned into [`ConnectError`]s that say what to do next.
//!
//! What may be retried depends on the request ([`Retry`]): a 429 or 503 means the service did not act, so any
//! request may be sent again; a dropped connection or a timeout after the request was sent may hide an applied
//! write, so only requests that cannot apply twice (reads, writes guarded by `If-Match`) are sent again, and a
//! create comes back as [`ConnectError::Transport`] with `maybe_applied` for the caller to look up.

use std::io::Read as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::ConnectError;

/// Timeouts and retry bounds of one service's calls.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// The whole call, connecting to reading the last byte of the answer.
    pub timeout: Duration,
    /// Connecting (TCP and TLS).
    pub connect_timeout: Duration,
    /// Attempts of one call in all (1 = no retry).
    pub max_attempts: u32,
    /// The first backoff; each retry doubles it, with up to 50% random jitter.
    pub backoff: Duration,
    /// No backoff (nor `Retry-After`) waits longer than this; a longer `Retry-After` ends the retries.
    pub max_wait: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// Where a bearer token comes from. The host implements it to decide where secrets live; [`StaticToken`] serves a
/// token it was given.
pub trait TokenSource: Send + Sync {
    /// The current token.
    fn token(&self) -> Result<String, ConnectError>;
    /// A new token, after the service refused the current one (HTTP 401). Called at most once per call.
    fn refresh(&self) -> Result<String, ConnectError>;
}

/// A fixed bearer token (tests, the emulators, short scripts). Its `Debug` never shows the token.
pub struct StaticToken(String);

impl StaticToken {
    /// Serves `token`.
    pub fn new(token: impl Into<String>) -> StaticToken {
        StaticToken(token.into())
    }
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticToken(<redacted>)")
    }
}

impl TokenSource for StaticToken {
    fn token(&self) -> Result<String, ConnectError> {
        Ok(self.0.clone())
    }

    fn refresh(&self) -> Result<String, ConnectError> {
        Ok(self.0.clone())
    }
}

/// What may be sent again after a failure with no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Reads, and writes that cannot apply twice (guarded by `If-Match`, or idempotent by id): sent again after any
    /// failure.
    Always,
    /// Creates: sent again only when the service said it did not act (429, 503) or the connection was never made.
    NotIfSent,
}

/// One request.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    /// `GET`, `POST`, `PATCH`, `PUT`, `DELETE`.
    pub(crate) method: &'static str,
    /// The absolute URL.
    pub(crate) url: String,
    /// Extra headers (`If-Match`, `Prefer`, ...). `Authorization`, `Accept` and `Content-Type` are added.
    pub(crate) headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub(crate) body: Option<&'a str>,
    /// What is asked, for messages: `referral 5b0e…`, `list of referrals`.
    pub(crate) what: String,
    /// The retry policy.
    pub(crate) retry: Retry,
}

/// An answer with a 2xx status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The status.
    pub(crate) status: u16,
    /// The `ETag` header, if any.
    pub(crate) etag: Option<String>,
    /// The body (empty for 204).
    pub(crate) body: String,
}

/// One service's HTTP client: an agent with the service's timeouts, its token source and retry bounds.
pub(crate) struct Http {
    service: &'static str,
    agent: ureq::Agent,
    config: HttpConfig,
    tokens: Box<dyn TokenSource>,
    jitter: Mutex<u64>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("service", &self.service)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A parsed error answer: the service's code and message.
pub(crate) type ErrorBody = (String, String);

impl Http {
    /// A client for `service` (a name for messages) with `config` and `tokens`.
    pub(crate) fn new(
        service: &'static str,
        config: HttpConfig,
        tokens: Box<dyn TokenSource>,
    ) -> Http {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .timeout_connect(Some(config.connect_timeout))
            .max_redirects(0)
            .build()
            .into();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
            | 1;
        Http {
            service,
            agent,
            config,
            tokens,
            jitter: Mutex::new(seed),
        }
    }

    /// Sends `request` with retries; returns the 2xx answer, or the error `parse_error` names from the service's
    /// error body (its code and message).
    pub(crate) fn send(
        &self,
        request: &Request<'_>,
        parse_error: impl Fn(&str) -> Option<ErrorBody>,
    ) -> Result<Answer, ConnectError> {
        let mut token = self.tokens.token()?;
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.once(request, &token);
            let wait = match outcome {
                Ok(raw) if (200..300).contains(&raw.status) => {
                    return Ok(Answer {
                        status: raw.status,
                        etag: raw.etag,
                        body: raw.body,
                    });
                }
                Ok(raw) if raw.status == 401 && !refreshed => {
                    refreshed = true;
                    token = self.tokens.refresh()?;
                    attempt -= 1;
                    continue;
                }
                Ok(raw) if raw.status == 429 || raw.status == 503 => {
                    let asked = raw.retry_after;
                    if attempt >= self.config.max_attempts
                        || asked.is_some_and(|d| d > self.config.max_wait)
                    {
                        return Err(ConnectError::Throttled {
                            service: self.service,
                            what: request.what.clone(),
                            status: raw.status,
                            attempts: attempt,
                            retry_after: asked,
                        });
                    }
                    asked.unwrap_or_else(|| self.backoff(attempt))
                }
                Ok(raw) => return Err(self.error(request, &raw, &parse_error)),
                Err(failure) => {
                    let retryable = match request.retry {
                        Retry::Always => true,
                        Retry::NotIfSent => !failure.maybe_sent,
                    };
                    if !retryable || attempt >= self.config.max_attempts {
                        return Err(ConnectError::Transport {
                            service: self.service,
                            what: request.what.clone(),
                            detail: if attempt > 1 {
                                format!("{} (after {attempt} attempts)", failure.detail)
                            } else {
                                failure.detail
                            },
                            maybe_applied: failure.maybe_sent && request.method != "GET",
                        });
                    }
                    self.backoff(attempt)
                }
            };
            std::thread::sleep(wait.min(self.config.max_wait));
        }
    }

    /// The backoff before attempt `attempt + 1`: `backoff × 2^(attempt-1)`, plus up to 50% jitter, at most
    /// `max_wait`.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .config
            .backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let mut state = self
            .jitter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // xorshift64: jitter needs no cryptographic quality, only to spread retries of many clients apart.
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let fraction = (*state % 1000) as f64 / 2000.0;
        base.mul_f64(1.0 + fraction).min(self.config.max_wait)
    }

    fn error(
        &self,
        request: &Request<'_>,
        raw: &Raw,
        parse_error: &impl Fn(&str) -> Option<ErrorBody>,
    ) -> ConnectError {
        let (code, message) = parse_error(&raw.body).unwrap_or_else(|| {
            (
                format!("http_{}", raw.status),
                crate::error::shorten(raw.body.trim()),
            )
        });
        let (service, what) = (self.service, request.what.clone());
        match raw.status {
            412 => ConnectError::PreconditionFailed {
                service,
                what,
                code,
            },
            404 => ConnectError::NotFound {
                service,
                what,
                code,
            },
            401 | 403 => ConnectError::Unauthorized {
                service,
                what,
                status: raw.status,
                code,
                message,
            },
            status => ConnectError::Service {
                service,
                what,
                status,
                code,
                message,
            },
        }
    }

    fn once(&self, request: &Request<'_>, token: &str) -> Result<Raw, Failure> {
        let started = Instant::now();
        let bearer = format!("Bearer {token}");
        let result = if let Some(body) = request.body {
            let mut builder = match request.method {
                "POST" => self.agent.post(&request.url),
                "PUT" => self.agent.put(&request.url),
                _ => self.agent.patch(&request.url),
            }
            .header("Authorization", &bearer)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json");
            for (name, value) in &request.headers {
                builder = builder.header(*name, value);
            }
            builder.send(body)
        } else {
            let mut builder = match request.method {
                "DELETE" => self.agent.delete(&request.url),
                _ => self.agent.get(&request.url),
            }
            .header("Authorization", &bearer)
            .header("Accept", "application/json");
            for (name, value) in &request.headers {
                builder = builder.header(*name, value);
            }
            builder.call()
        };
        let mut response = result.map_err(|e| Failure::of(&e, started))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header("ETag");
        let retry_after = header("Retry-After")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let mut body = String::new();
        response
            .body_mut()
            .as_reader()
            .read_to_string(&mut body)
            .map_err(|e| Failure {
                detail: format!("reading the answer failed: {e}"),
                maybe_sent: true,
            })?;
        Ok(Raw {
            status,
            etag,
            retry_after,
            body,
        })
    }
}

/// An answer of any status.
struct Raw {
    status: u16,
    etag: Option<String>,
    retry_after: Option<Duration>,
    body: String,
}

/// A call that got no answer.
struct Failure {
    detail: String,
    /// The request may have been sent (and applied).
    maybe_sent: bool,
}

impl Failure {
    fn of(e: &ureq::Error, started: Instant) -> Failure {
        let not_sent = matches!(
            e,
            ureq::Error::ConnectionFailed
                | ureq::Error::HostNotFound
                | ureq::Error::BadUri(_)
                | ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve)
        ) || matches!(e, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused);
        Failure {
            detail: format!("no answer after {} ms: {e}", started.elapsed().as_millis()),
            maybe_sent: !not_sent,
        }
    }
}
