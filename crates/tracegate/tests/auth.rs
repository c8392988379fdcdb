//! `tracegate validate` and `tracegate default-config` never print a token (issue 17).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tracegate");
const DEFAULT: &str = include_str!("../../../config/default.yaml");
const LITERAL: &str = "literal-secret-0123456789abcdef";
const FROM_ENV: &str = "env-secret-0123456789abcdef";

/// Runs `tracegate validate` on the default config plus `auth`; status and all output.
fn validate(auth: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, format!("{DEFAULT}\n{auth}")).unwrap();
    let out = Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&path)
        .env("TEAM_A_TOKEN", FROM_ENV)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn validate_prints_no_token_whether_the_config_is_valid_or_not() {
    let (ok, text) = validate(&format!(
        "auth:\n  bearer_tokens:\n    - {{ token: \"${{env:TEAM_A_TOKEN}}\", tenant: team-a }}\n    - {{ token: {LITERAL} }}\n"
    ));
    assert!(ok, "{text}");
    assert!(text.contains("valid"), "{text}");
    for (auth, want) in [
        // The same token twice.
        (
            format!(
                "auth:\n  bearer_tokens:\n    - {{ token: {LITERAL}, tenant: a }}\n    - {{ token: {LITERAL}, tenant: b }}\n"
            ),
            "auth.bearer_tokens[1]",
        ),
        // A token YAML reads as a number: the error does not quote it.
        (
            "auth:\n  bearer_tokens: [{ token: 123456789012345678 }]\n".to_owned(),
            "quote it",
        ),
        // A bad tenant beside a good token from the environment.
        (
            "auth:\n  bearer_tokens: [{ token: \"${env:TEAM_A_TOKEN}\", tenant: \"a/b\" }]\n"
                .to_owned(),
            "auth.bearer_tokens[0].tenant",
        ),
        // A token with a space.
        (
            format!("auth:\n  bearer_tokens: [{{ token: \"{LITERAL} x\" }}]\n"),
            "auth.bearer_tokens[0].token",
        ),
    ] {
        let (ok, text) = validate(&auth);
        assert!(!ok, "{auth}: {text}");
        assert!(text.contains(want), "{want}: {text}");
        for secret in [LITERAL, FROM_ENV, "123456789012345678"] {
            assert!(!text.contains(secret), "{secret} printed: {text}");
        }
    }
}

#[test]
fn default_config_holds_no_token_and_leaves_auth_commented_out() {
    let out = Command::new(BIN).arg("default-config").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, DEFAULT);
    assert!(text.contains("# auth:"), "the auth: example is documented");
    for line in text.lines().filter(|l| l.contains("token:")) {
        assert!(line.trim_start().starts_with('#'), "{line}");
        assert!(
            line.contains("${env:"),
            "an example token comes from the environment: {line}"
        );
    }
    assert!(
        !text.lines().any(|l| l.starts_with("auth:")),
        "auth stays off by default"
    );
}
