//! Where the archive lives: a URL → an object store and a prefix inside it.
//!
//! | URL | Store | Prefix |
//! |---|---|---|
//! | `./data/archive`, `/var/lib/tracegate` | local file system, rooted there | none |
//! | `file:///var/lib/tracegate` | local file system, rooted there | none |
//! | `s3://bucket/llm-traces` | S3 (or any S3-compatible server) | `llm-traces` |
//!
//! Resolving a URL does no network I/O: the S3 client is configured (from the usual `AWS_*`
//! environment variables, then [`S3Options`]; the only file read is `s3.ca_file`) but not
//! contacted, and a local directory is created on first use, by [`Destination::open`].

use crate::error::StoreError;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{Certificate, ClientOptions};
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// What a URL names, before anything is built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A directory on the local file system.
    Local(PathBuf),
    /// A bucket and a prefix inside it.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, without leading or trailing `/`.
        prefix: String,
    },
}

impl Location {
    /// Parses a plain path, `file:///absolute/path` or `s3://bucket[/prefix]`.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let err = |reason: &str| StoreError::Url {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let url_trimmed = url.trim();
        if url_trimmed.is_empty() {
            return Err(err("it is empty"));
        }
        let Some((scheme, rest)) = url_trimmed.split_once("://") else {
            return Ok(Location::Local(PathBuf::from(url_trimmed)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                if !rest.starts_with('/') {
                    return Err(err(
                        "a file URL needs an absolute path and no host (file:///path)",
                    ));
                }
                let path = percent_decode(rest).ok_or_else(|| err("bad percent-encoding"))?;
                Ok(Location::Local(PathBuf::from(path)))
            }
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(err("the bucket name is missing"));
                }
                Ok(Location::S3 {
                    bucket: bucket.to_owned(),
                    prefix: prefix.trim_matches('/').to_owned(),
                })
            }
            other => Err(err(&format!("scheme {other:?} is not supported"))),
        }
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// S3 settings for `s3://` URLs. Each one overrides its `AWS_*` environment variable.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    /// Endpoint of an S3-compatible server, such as `http://127.0.0.1:9000`
    /// (`AWS_ENDPOINT`). Default: AWS.
    pub endpoint: Option<String>,
    /// Region (`AWS_REGION`). Default `us-east-1`.
    pub region: Option<String>,
    /// Access key id (`AWS_ACCESS_KEY_ID`). Default: the environment or instance credentials.
    pub access_key_id: Option<String>,
    /// Secret access key (`AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
    /// Session token for temporary credentials (`AWS_SESSION_TOKEN`).
    pub session_token: Option<String>,
    /// Allow `http://` endpoints (`AWS_ALLOW_HTTP`). Default false.
    pub allow_http: Option<bool>,
    /// Address buckets as `bucket.endpoint` rather than `endpoint/bucket`
    /// (`AWS_VIRTUAL_HOSTED_STYLE_REQUEST`). Default false: path style, which S3-compatible
    /// servers expect.
    pub virtual_hosted_style: Option<bool>,
    /// CA certificates (PEM, one or more) to trust for an `https://` endpoint whose
    /// certificate a private CA signed, such as an in-house MinIO or Ceph. They are added to
    /// the system's CA certificates, not instead of them. Read once, when the config is
    /// checked. Default: the system's CA certificates only.
    pub ca_file: Option<PathBuf>,
}

/// The largest `ca_file` read: a CA bundle is kilobytes; this bounds a wrong path.
const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// An object store and the prefix files go under.
pub struct Destination {
    inner: Inner,
    prefix: Path,
    description: String,
}

enum Inner {
    Ready(Arc<dyn ObjectStore>),
    /// Created on first use, so building a config touches nothing.
    Local {
        root: PathBuf,
        store: OnceCell<Arc<dyn ObjectStore>>,
    },
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("url", &self.description)
            .finish()
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

impl Destination {
    /// Any object store, with files under `prefix`. For tests and embedding.
    pub fn from_store(store: Arc<dyn ObjectStore>, prefix: Path) -> Self {
        let description = format!("{store}/{prefix}");
        Self {
            inner: Inner::Ready(store),
            prefix,
            description,
        }
    }

    /// Resolves a URL (see the [module docs](self)). Does no network I/O; reads
    /// `s3.ca_file` if set.
    pub fn from_url(url: &str, s3: Option<&S3Options>) -> Result<Self, StoreError> {
        match Location::parse(url)? {
            Location::Local(root) => Ok(Self {
                description: root.display().to_string(),
                inner: Inner::Local {
                    root,
                    store: OnceCell::new(),
                },
                prefix: Path::default(),
            }),
            Location::S3 { bucket, prefix } => {
                let store = s3_store(&bucket, s3.cloned().unwrap_or_default())?;
                Ok(Self {
                    description: format!("s3://{bucket}/{prefix}"),
                    inner: Inner::Ready(Arc::new(store)),
                    prefix: Path::from(prefix),
                })
            }
        }
    }

    /// Whether the archive is a local directory, whose files have no storage class (the
    /// lifecycle only deletes there).
    pub fn is_local(&self) -> bool {
        matches!(self.inner, Inner::Local { .. })
    }

    /// The prefix files go under.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The store, creating the local directory on first use.
    pub async fn open(&self) -> Result<Arc<dyn ObjectStore>, StoreError> {
        match &self.inner {
            Inner::Ready(store) => Ok(store.clone()),
            Inner::Local { root, store } => store
                .get_or_try_init(|| async {
                    tokio::fs::create_dir_all(root)
                        .await
                        .map_err(|e| StoreError::LocalDir {
                            path: root.clone(),
                            source: Box::new(e),
                        })?;
                    let fs = LocalFileSystem::new_with_prefix(root)
                        .map_err(|e| StoreError::LocalDir {
                            path: root.clone(),
                            source: Box::new(e),
                        })?
                        .with_automatic_cleanup(true);
                    Ok(Arc::new(fs) as Arc<dyn ObjectStore>)
                })
                .await
                .cloned(),
        }
    }
}

fn s3_store(bucket: &str, o: S3Options) -> Result<object_store::aws::AmazonS3, StoreError> {
    let config_error = |source| StoreError::S3Config {
        bucket: bucket.to_owned(),
        source,
    };
    let mut client = ClientOptions::new();
    if let Some(file) = &o.ca_file {
        for certificate in ca_certificates(file).map_err(config_error)? {
            client = client.with_root_certificate(certificate);
        }
    }
    let mut b = from_env(client).with_bucket_name(bucket);
    if let Some(v) = o.endpoint {
        b = b.with_endpoint(v);
    }
    if let Some(v) = o.region {
        b = b.with_region(v);
    }
    if let Some(v) = o.access_key_id {
        b = b.with_access_key_id(v);
    }
    if let Some(v) = o.secret_access_key {
        b = b.with_secret_access_key(v);
    }
    if let Some(v) = o.session_token {
        b = b.with_token(v);
    }
    if let Some(v) = o.allow_http {
        b = b.with_allow_http(v);
    }
    if let Some(v) = o.virtual_hosted_style {
        b = b.with_virtual_hosted_style_request(v);
    }
    b.build().map_err(config_error)
}

/// [`AmazonS3Builder::from_env`], on top of `client`: `with_client_options` replaces the
/// client options wholesale, so it must come before the environment's `AWS_*` client
/// settings (`AWS_ALLOW_HTTP`, timeouts, proxies), not after.
fn from_env(client: ClientOptions) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::new().with_client_options(client);
    for (key, value) in std::env::vars_os() {
        if let (Some(key), Some(value)) = (key.to_str(), value.to_str())
            && key.starts_with("AWS_")
            && let Ok(config_key) = key.to_ascii_lowercase().parse()
        {
            builder = builder.with_config(config_key, value);
        }
    }
    builder
}

/// The certificates of `s3.ca_file`. Errors name the key and the file, never its content.
fn ca_certificates(file: &std::path::Path) -> Result<Vec<Certificate>, object_store::Error> {
    use std::io::Read;
    let fail = |problem: String| object_store::Error::Generic {
        store: "S3",
        source: format!("s3.ca_file {}: {problem}", file.display()).into(),
    };
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_CA_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| fail(format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(fail(format!(
            "larger than {MAX_CA_FILE_BYTES} bytes: not a CA certificate file"
        )));
    }
    // Only the outcome of the parser, not its message, which could quote the bytes.
    let certificates = Certificate::from_pem_bundle(&bytes).map_err(|_| {
        fail("not PEM certificates (expected -----BEGIN CERTIFICATE----- blocks)".into())
    })?;
    if certificates.is_empty() {
        return Err(fail(
            "no certificate found: expected one or more -----BEGIN CERTIFICATE----- blocks".into(),
        ));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::{ObjectStoreExt, PutPayload};

    #[test]
    fn parses_the_supported_forms() {
        assert_eq!(
            Location::parse("./data/archive").unwrap(),
            Location::Local("./data/archive".into())
        );
        assert_eq!(
            Location::parse("/var/lib/tg").unwrap(),
            Location::Local("/var/lib/tg".into())
        );
        assert_eq!(
            Location::parse("file:///var/lib/my%20tg").unwrap(),
            Location::Local("/var/lib/my tg".into())
        );
        assert_eq!(
            Location::parse("s3://bucket/llm-traces/prod/").unwrap(),
            Location::S3 {
                bucket: "bucket".into(),
                prefix: "llm-traces/prod".into()
            }
        );
        assert_eq!(
            Location::parse("s3://bucket").unwrap(),
            Location::S3 {
                bucket: "bucket".into(),
                prefix: String::new()
            }
        );
    }

    #[test]
    fn rejects_other_forms_naming_the_supported_ones() {
        for (url, why) in [
            ("gs://bucket/x", "scheme \"gs\" is not supported"),
            ("s3:///x", "the bucket name is missing"),
            ("file://host/x", "absolute path"),
            ("", "empty"),
        ] {
            let e = Location::parse(url).unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(
                e.contains("s3://bucket/prefix") && e.contains("file:///"),
                "{e}"
            );
        }
    }

    #[test]
    fn s3_urls_build_without_network() {
        let opts = S3Options {
            endpoint: Some("http://127.0.0.1:1".into()),
            region: Some("us-east-1".into()),
            access_key_id: Some("key".into()),
            secret_access_key: Some("secret".into()),
            allow_http: Some(true),
            virtual_hosted_style: Some(false),
            ..Default::default()
        };
        let d = Destination::from_url("s3://bucket/llm-traces", Some(&opts)).unwrap();
        assert_eq!(d.prefix().as_ref(), "llm-traces");
        assert_eq!(d.to_string(), "s3://bucket/llm-traces");
        assert!(
            !format!("{opts:?}").contains("secret\""),
            "the secret is redacted"
        );
        let bare = Destination::from_url("s3://bucket", Some(&opts)).unwrap();
        let hour = crate::layout::HourPartition::of_unix_nanos(0);
        let path = crate::layout::file_path(bare.prefix(), "spans", hour, "gw", ulid::Ulid::nil());
        assert_eq!(
            path.as_ref(),
            format!(
                "spans/dt=1970-01-01/hour=00/gw-{}.parquet",
                ulid::Ulid::nil()
            )
        );
    }

    #[test]
    fn ca_file_errors_name_the_key_and_the_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let opts = |file: &std::path::Path| S3Options {
            endpoint: Some("https://minio.internal:9000".into()),
            region: Some("us-east-1".into()),
            ca_file: Some(file.to_owned()),
            ..Default::default()
        };
        let err = |file: &std::path::Path| {
            Destination::from_url("s3://bucket/x", Some(&opts(file)))
                .unwrap_err()
                .to_string()
        };
        let missing = dir.path().join("missing.pem");
        let e = err(&missing);
        assert!(e.contains("s3.ca_file") && e.contains("missing.pem"), "{e}");
        assert!(e.contains("cannot read it"), "{e}");

        // A private key given by mistake: refused, and not quoted.
        let key = dir.path().join("key.pem");
        let secret = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7";
        std::fs::write(
            &key,
            format!("-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n"),
        )
        .unwrap();
        let e = err(&key);
        assert!(e.contains("s3.ca_file"), "{e}");
        assert!(!e.contains(secret), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        assert!(
            err(&empty).contains("no certificate found"),
            "{}",
            err(&empty)
        );
    }

    #[test]
    fn a_ca_file_with_certificates_builds() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let status = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=test-ca", "-keyout"])
            .arg(dir.path().join("ca.key"))
            .arg("-out")
            .arg(&ca)
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
        let opts = S3Options {
            endpoint: Some("https://minio.internal:9000".into()),
            region: Some("us-east-1".into()),
            ca_file: Some(ca.clone()),
            ..Default::default()
        };
        let d = Destination::from_url("s3://bucket/x", Some(&opts)).unwrap();
        assert_eq!(d.to_string(), "s3://bucket/x");
        assert!(format!("{opts:?}").contains("ca.pem"));
        // A bundle: the same certificate twice is two certificates.
        let pem = std::fs::read_to_string(&ca).unwrap();
        std::fs::write(&ca, format!("{pem}{pem}")).unwrap();
        assert_eq!(ca_certificates(&ca).unwrap().len(), 2);
    }

    #[tokio::test]
    async fn local_directories_are_created_on_first_use() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/b");
        let d = Destination::from_url(root.to_str().unwrap(), None).unwrap();
        assert!(!root.exists(), "resolving does no I/O");
        let store = d.open().await.unwrap();
        store
            .put(&Path::from("x/y.txt"), PutPayload::from_static(b"hi"))
            .await
            .unwrap();
        assert_eq!(std::fs::read(root.join("x/y.txt")).unwrap(), b"hi");
        let url = format!("file://{}", root.display());
        let again = Destination::from_url(&url, None)
            .unwrap()
            .open()
            .await
            .unwrap();
        assert!(again.head(&Path::from("x/y.txt")).await.is_ok());
    }
}
