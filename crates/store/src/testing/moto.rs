//! A real S3 server for tests: moto, started by the test that needs it.

/// moto's S3 server for the test: `TRACEGATE_MOTO` names a running server
/// (`http://127.0.0.1:5000`) or the `moto_server` program to start (such as
/// `.venv/bin/moto_server` after `make venv`). Unset: the test is skipped, saying so.
pub struct Moto {
    /// The server's `http://host:port`.
    pub endpoint: String,
    child: Option<std::process::Child>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A bodiless HTTP/1.1 request to `endpoint`; the whole response.
pub fn http(endpoint: &str, request: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    conn.write_all(
        format!("{request}Host: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            .as_bytes(),
    )?;
    let mut out = String::new();
    conn.read_to_string(&mut out)?;
    Ok(out)
}

/// moto for this test, or `None` (skip) without `TRACEGATE_MOTO`.
pub fn moto() -> Option<Moto> {
    let setting = std::env::var("TRACEGATE_MOTO").ok()?;
    if setting.starts_with("http://") {
        return Some(Moto {
            endpoint: setting,
            child: None,
        });
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = std::process::Command::new(&setting)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("TRACEGATE_MOTO={setting}: cannot start it: {e}"));
    let moto = Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        child: Some(child),
    };
    for _ in 0..100 {
        if http(&moto.endpoint, "GET / HTTP/1.1\r\n").is_ok_and(|r| r.starts_with("HTTP/1.1 200")) {
            return Some(moto);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "moto_server did not answer on {} within 10 s",
        moto.endpoint
    );
}
