//! Golden cases for every row of the contract's table, properties of the decision, config
//! errors with their key paths, and the tokens file's reload.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use proptest::prelude::*;
use std::io::Write as _;

const TOKEN_A: &str = "token-aaaaaaaaaaaaaaaa";
const TOKEN_P: &str = "token-proxy-pppppppppp";

fn auth(yaml: &str) -> Authenticator {
    let config: AuthConfig = serde_yaml_ng::from_str(yaml).unwrap();
    Authenticator::from_config(&config).unwrap()
}

fn standard() -> Authenticator {
    auth(&format!(
        "bearer_tokens: [{{ token: {TOKEN_A}, tenant: team-a }}, {{ token: {TOKEN_P} }}]\n\
         client_certificates: true"
    ))
}

fn req<'a>(
    authorization: Option<&'a str>,
    org: Option<&'a str>,
    cn: Option<Option<&'a str>>,
    multitenancy: bool,
) -> Request<'a> {
    Request {
        listener: "test",
        peer: None,
        authorization: authorization.map(str::as_bytes),
        org_id: org.map(str::as_bytes),
        client_certificate: cn.map(|common_name| ClientCertificate { common_name }),
        multitenancy,
        federation: false,
    }
}

fn reason(r: Result<Tenancy, AuthError>) -> &'static str {
    r.unwrap_err().reason.label()
}

#[test]
fn golden_auth_off() {
    let open = Authenticator::open();
    assert!(!open.is_on());
    let bearer = format!("Bearer {TOKEN_A}");
    for (authz, org, cn) in [
        (None, None, None),
        (Some("garbage"), Some("x"), Some(None)),
        (Some(bearer.as_str()), Some("team-b"), Some(Some("team-a"))),
    ] {
        assert_eq!(
            open.decide(&req(authz, org, cn, false)),
            Ok(Tenancy::Single)
        );
        assert_eq!(
            open.decide(&req(authz, org, cn, true)),
            Ok(Tenancy::FromHeader)
        );
    }
}

#[test]
fn golden_refusals_are_401_with_their_reason() {
    let a = standard();
    for mt in [false, true] {
        assert_eq!(
            reason(a.decide(&req(None, Some("team-a"), None, mt))),
            "missing"
        );
        for bad in [
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer ",
            "Bearertoken",
            "Bearer a b",
            TOKEN_A,
        ] {
            assert_eq!(
                reason(a.decide(&req(Some(bad), None, None, mt))),
                "malformed",
                "{bad}"
            );
        }
        for unknown in ["Bearer nope", "Bearer token-aaaaaaaaaaaaaaaA"] {
            let e = a.decide(&req(Some(unknown), None, None, mt)).unwrap_err();
            assert_eq!(e.reason, Reason::InvalidToken);
            assert!(!e.reason.is_forbidden());
            assert!(
                !e.message.contains("nope") && !e.message.contains("aaaa"),
                "{}",
                e.message
            );
        }
        // A wrong token is refused even with a good certificate beside it.
        assert_eq!(
            reason(a.decide(&req(Some("Bearer nope"), None, Some(Some("team-a")), mt))),
            "invalid_token"
        );
    }
    // With multi-tenancy, a certificate must name a tenant.
    assert_eq!(
        reason(a.decide(&req(None, None, Some(None), true))),
        "invalid_certificate"
    );
    assert_eq!(
        reason(a.decide(&req(None, None, Some(Some("a b")), true))),
        "invalid_certificate"
    );
    // Without client_certificates, a certificate is no credential.
    let tokens_only = auth(&format!(
        "bearer_tokens: [{{ token: {TOKEN_A}, tenant: team-a }}]"
    ));
    assert_eq!(
        reason(tokens_only.decide(&req(None, None, Some(Some("team-a")), true))),
        "missing"
    );
}

#[test]
fn golden_multitenancy_off_is_the_single_tenant_whatever_the_header() {
    let a = standard();
    let bearer = format!("bearer {TOKEN_A}"); // the scheme is case-insensitive
    let proxy = format!("Bearer   {TOKEN_P}  ");
    for authz in [Some(bearer.as_str()), Some(proxy.as_str())] {
        for org in [None, Some("team-b"), Some("team-a")] {
            assert_eq!(a.decide(&req(authz, org, None, false)), Ok(Tenancy::Single));
        }
    }
    // Any verified certificate authenticates; its CN is not used.
    assert_eq!(
        a.decide(&req(None, Some("x"), Some(None), false)),
        Ok(Tenancy::Single)
    );
}

#[test]
fn golden_multitenancy_on_with_a_tenant_credential() {
    let a = standard();
    let bearer = format!("Bearer {TOKEN_A}");
    let team_a = Ok(Tenancy::Credential("team-a".into()));
    for org in [None, Some("team-a"), Some(" team-a "), Some("")] {
        assert_eq!(
            a.decide(&req(Some(&bearer), org, None, true)),
            team_a,
            "{org:?}"
        );
        assert_eq!(
            a.decide(&req(None, org, Some(Some("team-a")), true)),
            team_a,
            "{org:?}"
        );
    }
    let e = a
        .decide(&req(Some(&bearer), Some("b"), None, true))
        .unwrap_err();
    assert_eq!(e.reason, Reason::TenantMismatch);
    assert!(e.reason.is_forbidden());
    assert_eq!(
        e.message,
        r#"X-Scope-OrgID names tenant "b" but the credential belongs to "team-a""#
    );
    let e = a
        .decide(&req(None, Some("team-b"), Some(Some("team-a")), true))
        .unwrap_err();
    assert_eq!(e.reason, Reason::TenantMismatch);
    // Federation: every part must be the credential's tenant.
    let mut r = req(Some(&bearer), Some("team-a|team-a"), None, true);
    r.federation = true;
    assert_eq!(a.decide(&r), team_a);
    r.org_id = Some(b"team-a|b");
    let e = a.decide(&r).unwrap_err();
    assert_eq!(
        e.message,
        r#"X-Scope-OrgID names tenant "b" but the credential belongs to "team-a""#
    );
    // Without federation, `a|a` is not a tenant's name.
    r.federation = false;
    r.org_id = Some(b"team-a|team-a");
    assert_eq!(reason(a.decide(&r)), "tenant_mismatch");
}

#[test]
fn golden_multitenancy_on_with_a_token_without_tenant() {
    let a = standard();
    let proxy = format!("Bearer {TOKEN_P}");
    for org in [None, Some("team-x")] {
        assert_eq!(
            a.decide(&req(Some(&proxy), org, None, true)),
            Ok(Tenancy::FromHeader)
        );
    }
}

#[test]
fn failures_are_counted_by_listener_and_reason() {
    use metrics_util::debugging::DebuggingRecorder;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let a = standard();
    metrics::with_local_recorder(&recorder, || {
        let mut r = req(Some("Bearer nope"), None, None, true);
        r.listener = "otlp/grpc";
        let _ = a.decide(&r);
        let _ = a.decide(&r);
        let ok = format!("Bearer {TOKEN_A}");
        r.authorization = Some(ok.as_bytes());
        let _ = a.decide(&r);
    });
    let counts: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(k, ..)| k.key().name() == FAILURES_TOTAL)
        .map(|(k, _, _, v)| (format!("{:?}", k.key().labels().collect::<Vec<_>>()), v))
        .collect();
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert!(counts[0].0.contains("otlp/grpc") && counts[0].0.contains("invalid_token"));
    assert_eq!(
        format!("{:?}", counts[0].1),
        format!("{:?}", metrics_util::debugging::DebugValue::Counter(2))
    );
}

fn errors(yaml: &str) -> Vec<AuthConfigError> {
    let config: AuthConfig = serde_yaml_ng::from_str(yaml).unwrap();
    Authenticator::from_config(&config).unwrap_err()
}

#[test]
fn config_errors_name_their_key_and_never_the_token() {
    let e = errors("bearer_tokens: [{ token: secret-one-1234567890, token_file: /x }]");
    assert_eq!(e[0].path, "auth.bearer_tokens[0]");
    let e = errors("bearer_tokens: [{ tenant: a }]");
    assert_eq!(e[0].path, "auth.bearer_tokens[0]");
    let e = errors("bearer_tokens: [{ token: \"\" }]");
    assert_eq!(e[0].path, "auth.bearer_tokens[0].token");
    let e = errors("bearer_tokens: [{ token: secret-two-1234567890, tenant: a/b }]");
    assert_eq!(e[0].path, "auth.bearer_tokens[0].tenant");
    let e = errors("bearer_tokens: [{ token_file: /nonexistent/token }]");
    assert_eq!(e[0].path, "auth.bearer_tokens[0].token_file");
    assert!(
        e[0].message.contains("/nonexistent/token"),
        "{}",
        e[0].message
    );
    let e = errors(
        "bearer_tokens: [{ token: secret-dup-1234567890, tenant: a }, { token: secret-dup-1234567890, tenant: b }]",
    );
    assert_eq!(e[0].path, "auth.bearer_tokens[1]");
    assert!(e[0].message.contains("auth.bearer_tokens[0]"));
    let e = errors("{}");
    assert_eq!(e[0].path, "auth");
    let e = errors("tokens_file: /nonexistent/tokens");
    assert_eq!(e[0].path, "auth.tokens_file");
    let e = errors("client_certificates: true\nreload_interval: 10ms");
    assert_eq!(e[0].path, "auth.reload_interval");
    for e in [
        errors("bearer_tokens: [{ token: secret-one-1234567890, token_file: /x }]"),
        errors(
            "bearer_tokens: [{ token: secret-dup-1234567890, tenant: a }, { token: secret-dup-1234567890, tenant: b }]",
        ),
        errors("bearer_tokens: [{ token: \"secret with space\" }]"),
    ] {
        let shown = format!(
            "{e:?} {}",
            e.iter().map(ToString::to_string).collect::<String>()
        );
        assert!(!shown.contains("secret"), "{shown}");
    }
    // A token file's content, trimmed, is the token; Debug shows none of it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    std::fs::write(&path, format!("{TOKEN_A}\n")).unwrap();
    let a = auth(&format!(
        "bearer_tokens: [{{ token_file: {}, tenant: team-a }}]",
        path.display()
    ));
    let bearer = format!("Bearer {TOKEN_A}");
    assert_eq!(
        a.decide(&req(Some(&bearer), None, None, true)),
        Ok(Tenancy::Credential("team-a".into()))
    );
    assert!(!format!("{a:?}").contains(TOKEN_A));
}

#[test]
fn the_tokens_file_reloads_when_it_changes_and_a_bad_one_keeps_the_previous_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    std::fs::write(&path, "# tenants\nteam-f token-file-ffffffffffff\n").unwrap();
    let a = auth(&format!(
        "tokens_file: {}\nreload_interval: 1s",
        path.display()
    ));
    let f = "Bearer token-file-ffffffffffff";
    let g = "Bearer token-file-gggggggggggg";
    assert_eq!(
        a.decide(&req(Some(f), None, None, true)),
        Ok(Tenancy::Credential("team-f".into()))
    );
    assert_eq!(a.reload(), ReloadOutcome::Unchanged);

    let write = |text: &str| {
        let aside = dir.path().join("tokens.tmp");
        std::fs::File::create(&aside)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        std::fs::rename(&aside, &path).unwrap();
    };
    write("team-g token-file-gggggggggggg\n");
    assert_eq!(a.reload(), ReloadOutcome::Reloaded(1));
    assert_eq!(
        reason(a.decide(&req(Some(f), None, None, true))),
        "invalid_token"
    );
    assert_eq!(
        a.decide(&req(Some(g), None, None, true)),
        Ok(Tenancy::Credential("team-g".into()))
    );

    write("team-h token-secret-h extra\n");
    let ReloadOutcome::Failed(message) = a.reload() else {
        panic!("a bad file must fail")
    };
    assert!(
        message.contains("line 1") && !message.contains("token-secret"),
        "{message}"
    );
    assert_eq!(
        a.reload(),
        ReloadOutcome::Unchanged,
        "a failure is reported once per change"
    );
    assert_eq!(
        a.decide(&req(Some(g), None, None, true)),
        Ok(Tenancy::Credential("team-g".into()))
    );
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(a.reload(), ReloadOutcome::Failed(_)));
    assert_eq!(a.token_count(), 1, "the previous set stays in force");
}

#[tokio::test(start_paused = true)]
async fn the_reloader_stops_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    std::fs::write(&path, "team-f token-file-ffffffffffff\n").unwrap();
    let a = std::sync::Arc::new(auth(&format!("tokens_file: {}", path.display())));
    let stop = tokio_util::sync::CancellationToken::new();
    let task = a.spawn_reloader(stop.clone()).unwrap();
    stop.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert!(Authenticator::open().spawn_reloader_is_none());
}

impl Authenticator {
    fn spawn_reloader_is_none(self) -> bool {
        std::sync::Arc::new(self)
            .spawn_reloader(tokio_util::sync::CancellationToken::new())
            .is_none()
    }
}

fn any_request() -> impl Strategy<
    Value = (
        Option<String>,
        Option<String>,
        Option<Option<String>>,
        bool,
        bool,
    ),
> {
    let authz = prop_oneof![
        Just(None),
        Just(Some(format!("Bearer {TOKEN_A}"))),
        Just(Some(format!("Bearer {TOKEN_P}"))),
        "[ -~]{0,30}".prop_map(Some),
        "[!-~]{1,30}".prop_map(|t| Some(format!("Bearer {t}"))),
    ];
    let org = prop_oneof![
        Just(None),
        Just(Some("team-a".to_owned())),
        "[a-z|]{0,12}".prop_map(Some)
    ];
    let cn = prop_oneof![
        Just(None),
        Just(Some(None)),
        "[a-z -]{0,12}".prop_map(|c| Some(Some(c)))
    ];
    (authz, org, cn, any::<bool>(), any::<bool>())
}

proptest! {
    /// Any bearer token that is not configured is refused, whatever else the request holds.
    #[test]
    fn an_unconfigured_token_is_refused(token in "[!-~]{1,40}", org in proptest::option::of("[a-z]{1,8}"), mt in any::<bool>()) {
        prop_assume!(token != TOKEN_A && token != TOKEN_P);
        let a = standard();
        let header = format!("Bearer {token}");
        let r = req(Some(&header), org.as_deref(), Some(Some("team-a")), mt);
        prop_assert_eq!(a.decide(&r).unwrap_err().reason, Reason::InvalidToken);
    }

    /// The decision depends on the inputs alone: not on the listener, the peer, or the
    /// requests decided before.
    #[test]
    fn the_decision_depends_only_on_the_inputs(
        first in any_request(), second in any_request(), port in any::<u16>()
    ) {
        let a = standard();
        let build = |x: &'_ (Option<String>, Option<String>, Option<Option<String>>, bool, bool)| {
            let mut r = req(x.0.as_deref(), x.1.as_deref(), x.2.as_ref().map(|c| c.as_deref()), x.3);
            r.federation = x.4;
            a.decide(&r)
        };
        let before = build(&first);
        let _ = build(&second);
        prop_assert_eq!(&build(&first), &before);
        let mut r = req(first.0.as_deref(), first.1.as_deref(), first.2.as_ref().map(|c| c.as_deref()), first.3);
        r.federation = first.4;
        r.listener = "elsewhere";
        r.peer = Some(std::net::SocketAddr::from(([10, 0, 0, 1], port)));
        prop_assert_eq!(&a.decide(&r), &before);
        // Whatever it decided, a message never repeats the presented token.
        let presented = first.0.as_deref().and_then(|h| h.strip_prefix("Bearer "));
        if let (Err(e), Some(t)) = (&before, presented.filter(|t| t.len() >= 4)) {
            prop_assert!(!e.message.contains(t), "{}", e.message);
        }
    }
}
