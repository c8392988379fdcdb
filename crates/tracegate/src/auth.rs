//! The `auth:` section's place in `tracegate run`: parsed and checked with the rest of the
//! config (its token files read, so `validate` reports a missing one), then one
//! [`Authenticator`] shared by every OTLP receiver (through the `BuildContext`) and the
//! query API, and the task that re-reads `auth.tokens_file`.

use std::sync::Arc;
use tracegate_auth::{AuthConfig, Authenticator};
use tracegate_pipeline::config::{ConfigError, RawConfig, parse_section};

/// The authenticator for `raw`'s `auth:` section: open (every request let through) when
/// there is none. Errors carry their key paths and never a token.
pub fn setup(raw: &RawConfig) -> Result<Arc<Authenticator>, Vec<ConfigError>> {
    if raw.auth.is_null() {
        return Ok(Arc::new(Authenticator::open()));
    }
    let config: AuthConfig = parse_section("auth", raw.auth.clone()).map_err(|e| vec![e])?;
    Authenticator::from_config(&config)
        .map(Arc::new)
        .map_err(|errors| {
            errors
                .into_iter()
                .map(|e| ConfigError::new(e.path, e.message))
                .collect()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(yaml: &str) -> RawConfig {
        RawConfig::parse_with_env(yaml, &|name| {
            (name == "TEAM_A_TOKEN").then(|| "env-secret-0123456789abcdef".to_owned())
        })
        .unwrap()
    }

    const PIPELINES: &str =
        "service: { pipelines: { traces: { receivers: [otlp], exporters: [x] } } }\n";

    #[test]
    fn absent_is_open_and_present_is_on() {
        assert!(!setup(&raw(PIPELINES)).unwrap().is_on());
        let on = setup(&raw(&format!(
            "{PIPELINES}auth:\n  bearer_tokens: [{{ token: \"${{env:TEAM_A_TOKEN}}\", tenant: team-a }}]\n"
        )))
        .unwrap();
        assert!(on.is_on());
        assert_eq!(on.token_count(), 1);
    }

    #[test]
    fn errors_have_key_paths_and_no_token() {
        let errors = setup(&raw(&format!(
            "{PIPELINES}auth:\n  bearer_tokens:\n    - {{ token: \"${{env:TEAM_A_TOKEN}}\" }}\n    - {{ token: \"${{env:TEAM_A_TOKEN}}\", tenant: b }}\n  tokens_file: /nonexistent/tokens\n"
        )))
        .unwrap_err();
        let shown = errors.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert!(
            shown
                .iter()
                .any(|e| e.starts_with("auth.bearer_tokens[1]: the same token")),
            "{shown:?}"
        );
        assert!(
            shown
                .iter()
                .any(|e| e.starts_with("auth.tokens_file: cannot open")),
            "{shown:?}"
        );
        assert!(!format!("{shown:?} {errors:?}").contains("env-secret"));
        let errors = setup(&raw(&format!("{PIPELINES}auth:\n  tokens: []\n"))).unwrap_err();
        assert!(errors[0].path.starts_with("auth"), "{errors:?}");
    }
}
