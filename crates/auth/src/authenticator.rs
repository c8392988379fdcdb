//! [`Authenticator`]: the tokens in force (static ones and the tokens file's), the decision
//! with its metric and log, and the tokens file's reload.

use crate::config::{AuthConfig, AuthConfigError, SHORT_TOKEN_LEN, check_token};
use crate::decide::{self, AuthError, Policy, Request, Tenancy};
use crate::telemetry;
use crate::tokens::{Digest32, Entry, TokenTable, entry, parse_tokens_file, sha256};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The largest `token_file` read.
pub const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;
/// The largest `tokens_file` read.
pub const MAX_TOKENS_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// At most one warn-level failure log per authenticator in this time (the rest at debug).
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Decides each request's tenant; share it as `Arc<Authenticator>` among every listener.
#[derive(Debug)]
pub struct Authenticator {
    on: bool,
    client_certificates: bool,
    /// `bearer_tokens`, fixed at start.
    statics: Vec<Entry>,
    /// `statics` plus the tokens file's, swapped whole on reload.
    tokens: RwLock<Arc<TokenTable>>,
    file: Option<TokensFile>,
    log: Mutex<LogLimit>,
}

#[derive(Debug)]
struct TokensFile {
    path: PathBuf,
    interval: Duration,
    /// The digest of the content last seen (loaded or failed), so each change is loaded,
    /// counted and logged once.
    seen: Mutex<Option<Digest32>>,
}

#[derive(Debug, Default)]
struct LogLimit {
    last: Option<Instant>,
    suppressed: u64,
}

/// What a tokens file check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// No tokens file, or its content is what was last seen.
    Unchanged,
    /// The new content took effect: this many tokens are now accepted in all.
    Reloaded(usize),
    /// The new content could not be read or parsed; the previous tokens stay in force.
    Failed(String),
}

impl Authenticator {
    /// No `auth:` section: every request passes, and the tenant is decided as without
    /// authentication.
    pub fn open() -> Self {
        Self {
            on: false,
            client_certificates: false,
            statics: Vec::new(),
            tokens: RwLock::default(),
            file: None,
            log: Mutex::default(),
        }
    }

    /// Builds the authenticator for `config`, reading `token_file`s and the `tokens_file`;
    /// every problem is reported with its key path.
    pub fn from_config(config: &AuthConfig) -> Result<Self, Vec<AuthConfigError>> {
        let mut errors = Vec::new();
        let mut statics = Vec::new();
        for (i, t) in config.bearer_tokens.iter().enumerate() {
            let at = format!("auth.bearer_tokens[{i}]");
            let token = match (&t.token, &t.token_file) {
                (Some(token), None) => token.clone(),
                (None, Some(path)) => match read_limited(path, MAX_TOKEN_FILE_BYTES) {
                    Ok(text) => crate::config::Secret::new(text.trim()),
                    Err(e) => {
                        errors.push(AuthConfigError::new(format!("{at}.token_file"), e));
                        continue;
                    }
                },
                (Some(_), Some(_)) => {
                    errors.push(AuthConfigError::new(
                        &at,
                        "give `token` or `token_file`, not both",
                    ));
                    continue;
                }
                (None, None) => {
                    errors.push(AuthConfigError::new(
                        &at,
                        "give the token: `token: \"${env:VAR}\"` or `token_file: PATH`",
                    ));
                    continue;
                }
            };
            let key = if t.token.is_some() {
                "token"
            } else {
                "token_file"
            };
            if let Err(e) = check_token(token.expose()) {
                errors.push(AuthConfigError::new(format!("{at}.{key}"), e));
                continue;
            }
            if token.expose().len() < SHORT_TOKEN_LEN {
                tracing::warn!(
                    key = %format!("{at}.{key}"),
                    "a bearer token shorter than {SHORT_TOKEN_LEN} characters can be guessed: \
                     use a long random one (openssl rand -hex 32)"
                );
            }
            match entry(&token, t.tenant.as_deref(), at.clone()) {
                Ok(e) => statics.push(e),
                Err(e) => errors.push(AuthConfigError::new(format!("{at}.tenant"), e)),
            }
        }
        if config.reload_interval < crate::config::MIN_RELOAD_INTERVAL {
            errors.push(AuthConfigError::new(
                "auth.reload_interval",
                "must be at least 1s",
            ));
        }
        if config.bearer_tokens.is_empty()
            && config.tokens_file.is_none()
            && !config.client_certificates
        {
            errors.push(AuthConfigError::new(
                "auth",
                "no credential is configured, so every request would be refused: add \
                 bearer_tokens, a tokens_file, or client_certificates: true (or remove the \
                 section to leave the listeners open)",
            ));
        }
        let mut table = match TokenTable::new(statics.clone()) {
            Ok(t) => t,
            Err((at, message)) => {
                errors.push(AuthConfigError::new(at, message));
                TokenTable::default()
            }
        };
        let file = config.tokens_file.as_ref().map(|path| TokensFile {
            path: path.clone(),
            interval: config.reload_interval,
            seen: Mutex::new(None),
        });
        if let Some(file) = &file {
            match load_file(&file.path, &statics) {
                Ok((loaded, digest)) => {
                    table = loaded;
                    *file.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(digest);
                }
                Err(e) => errors.push(AuthConfigError::new("auth.tokens_file", e)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            on: true,
            client_certificates: config.client_certificates,
            statics,
            tokens: RwLock::new(Arc::new(table)),
            file,
            log: Mutex::default(),
        })
    }

    /// Whether `auth:` is configured (every request needs a credential).
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// How many bearer tokens are accepted now.
    pub fn token_count(&self) -> usize {
        self.table().len()
    }

    fn table(&self) -> Arc<TokenTable> {
        self.tokens
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Decides `request`'s tenant (see the crate docs for the table). A refusal is counted
    /// in `tracegate_auth_failures_total{listener, reason}` and logged with the listener,
    /// reason and peer, never the token.
    pub fn decide(&self, request: &Request<'_>) -> Result<Tenancy, AuthError> {
        let table = self.table();
        let policy = Policy {
            on: self.on,
            tokens: &table,
            client_certificates: self.client_certificates,
        };
        let result = decide::decide(policy, request);
        if let Err(e) = &result {
            telemetry::failure(request.listener, e.reason);
            self.log_failure(request, e);
        }
        result
    }

    fn log_failure(&self, request: &Request<'_>, e: &AuthError) {
        let suppressed = {
            let mut limit = self.log.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            if limit.last.is_some_and(|last| now - last < LOG_EVERY) {
                limit.suppressed += 1;
                None
            } else {
                limit.last = Some(now);
                Some(std::mem::take(&mut limit.suppressed))
            }
        };
        let peer = request
            .peer
            .map_or_else(|| "unknown".to_owned(), |p| p.to_string());
        let reason = e.reason.label();
        match suppressed {
            Some(suppressed) => tracing::warn!(
                listener = request.listener, %peer, reason, message = %e.message,
                suppressed_since_last = suppressed, "request refused: authentication failed"
            ),
            None => tracing::debug!(
                listener = request.listener, %peer, reason, message = %e.message,
                "request refused: authentication failed"
            ),
        }
    }

    /// Checks the tokens file now: new content is parsed and, if it is valid, replaces the
    /// file's tokens; invalid content leaves the previous tokens in force. Counted and
    /// logged once per change.
    pub fn reload(&self) -> ReloadOutcome {
        let Some(file) = &self.file else {
            return ReloadOutcome::Unchanged;
        };
        let text = read_limited(&file.path, MAX_TOKENS_FILE_BYTES);
        let digest = match &text {
            Ok(t) => sha256(t.as_bytes()),
            Err(e) => sha256(e.as_bytes()),
        };
        {
            let mut seen = file.seen.lock().unwrap_or_else(PoisonError::into_inner);
            if *seen == Some(digest) {
                return ReloadOutcome::Unchanged;
            }
            *seen = Some(digest);
        }
        let path = file.path.display().to_string();
        let loaded = text.and_then(|text| build_with_file(&text, &path, &self.statics));
        match loaded {
            Ok(table) => {
                let count = table.len();
                *self.tokens.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
                telemetry::reloaded(count);
                tracing::info!(file = %path, tokens = count, "auth.tokens_file reloaded");
                ReloadOutcome::Reloaded(count)
            }
            Err(message) => {
                telemetry::reload_failed();
                tracing::warn!(
                    file = %path, error = %message,
                    "auth.tokens_file changed but cannot be used; the previous tokens stay in force"
                );
                ReloadOutcome::Failed(message)
            }
        }
    }

    /// Starts checking the tokens file every `reload_interval` until `stop`; `None` without
    /// a tokens file.
    pub fn spawn_reloader(self: &Arc<Self>, stop: CancellationToken) -> Option<JoinHandle<()>> {
        let interval = self.file.as_ref()?.interval;
        telemetry::tokens(self.token_count());
        let this = self.clone();
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                let this = this.clone();
                // File reads block; a failed task is only logged.
                if let Err(e) = tokio::task::spawn_blocking(move || this.reload()).await {
                    tracing::warn!(error = %e, "auth.tokens_file check did not complete");
                }
            }
        }))
    }
}

/// The table of `statics` plus the tokens file at `path`, and the file's digest.
fn load_file(path: &Path, statics: &[Entry]) -> Result<(TokenTable, Digest32), String> {
    let text = read_limited(path, MAX_TOKENS_FILE_BYTES)?;
    let table = build_with_file(&text, &path.display().to_string(), statics)?;
    Ok((table, sha256(text.as_bytes())))
}

fn build_with_file(text: &str, path: &str, statics: &[Entry]) -> Result<TokenTable, String> {
    let mut entries = statics.to_vec();
    entries.extend(parse_tokens_file(text, path)?);
    TokenTable::new(entries).map_err(|(at, message)| format!("{at}: {message}"))
}

/// A file's text, at most `limit` bytes.
fn read_limited(path: &Path, limit: u64) -> Result<String, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {shown}: {e}"))?;
    let mut text = String::new();
    file.take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {shown} as UTF-8 text: {e}"))?;
    if text.len() as u64 > limit {
        return Err(format!("{shown} is larger than {limit} bytes"));
    }
    Ok(text)
}
