use super::*;

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
    assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert!(parse_duration("abc").is_err());
    assert!(parse_duration("5d").is_err());
}

#[test]
fn the_http_url_gets_the_signal_path() {
    assert_eq!(
        http_url("http://127.0.0.1:4318", SignalArg::Traces)
            .unwrap()
            .as_str(),
        "http://127.0.0.1:4318/v1/traces"
    );
    assert_eq!(
        http_url("http://127.0.0.1:4318", SignalArg::Logs)
            .unwrap()
            .as_str(),
        "http://127.0.0.1:4318/v1/logs"
    );
    assert_eq!(
        http_url("http://h:1/custom", SignalArg::Logs)
            .unwrap()
            .as_str(),
        "http://h:1/custom"
    );
}

#[test]
fn decode_only_counts_every_span_once_per_pass() {
    for signal in [SignalArg::Traces, SignalArg::Logs] {
        let pool = Pool::build(Profile::Tiny, 1, 1000, 100, signal);
        let s = decode_only(signal, &pool, Budget::Spans(2000)).unwrap();
        assert_eq!(s.accepted_spans, 2000);
        assert_eq!(s.sent_bytes, 2 * pool.bytes());
    }
}
