//! The hour's lease: taken with a conditional create, renewed after each output, taken
//! over (conditionally on its ETag) once stale.

use super::record::{LEASE_NAME, Lease};
use super::run::{Compactor, unix_ms};
use crate::error::StoreError;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

impl Compactor {
    pub(super) fn lease_body(&self) -> PutPayload {
        let lease = Lease::mine(
            &self.owner,
            unix_ms() + self.config.lease.get().as_millis() as u64,
        );
        PutPayload::from(serde_json::to_vec(&lease).unwrap_or_default())
    }

    /// Takes the hour's lease: `None` when another compactor holds it.
    pub(super) async fn acquire(&self, dir: &Path) -> Result<Option<HeldLease>, StoreError> {
        let path = dir.clone().join(LEASE_NAME);
        let err = |op, source| StoreError::ObjectStore {
            op,
            path: path.to_string(),
            source,
        };
        let create = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&path, self.lease_body(), create.clone())
            .await
        {
            Ok(put) => return Ok(Some(HeldLease::new(path, put))),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => {}
            Err(e) => return Err(err("take the lease", e)),
        }
        let got = match self.store.get(&path).await {
            Ok(got) => got,
            // Released meanwhile: the next run takes it.
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(err("read the lease", e)),
        };
        let version = UpdateVersion {
            e_tag: got.meta.e_tag.clone(),
            version: got.meta.version.clone(),
        };
        let bytes = got.bytes().await.map_err(|e| err("read the lease", e))?;
        // A lease that cannot be read is taken over as a stale one.
        let stale = match serde_json::from_slice::<Lease>(&bytes) {
            Ok(lease) => lease.is_stale(unix_ms()),
            Err(_) => true,
        };
        if !stale {
            return Ok(None);
        }
        tracing::info!(exporter = %self.name, dir = %dir, "compaction: taking over a lease that expired or whose process is gone");
        if self.conditional_update {
            let update = PutOptions {
                mode: PutMode::Update(version),
                ..PutOptions::default()
            };
            return match self.store.put_opts(&path, self.lease_body(), update).await {
                Ok(put) => Ok(Some(HeldLease::new(path, put))),
                Err(object_store::Error::Precondition { .. }) => Ok(None),
                Err(e) => Err(err("take over the lease", e)),
            };
        }
        let _ = self.store.delete(&path).await;
        match self.store.put_opts(&path, self.lease_body(), create).await {
            Ok(put) => Ok(Some(HeldLease::new(path, put))),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(None),
            Err(e) => Err(err("take over the lease", e)),
        }
    }

    /// Extends the lease; an error when another compactor has taken it.
    pub(super) async fn renew(&self, lease: &mut HeldLease) -> Result<(), StoreError> {
        let mode = if self.conditional_update {
            PutMode::Update(lease.version.clone())
        } else {
            PutMode::Overwrite
        };
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&lease.path, self.lease_body(), opts)
            .await
        {
            Ok(put) => {
                lease.version = UpdateVersion {
                    e_tag: put.e_tag,
                    version: put.version,
                };
                Ok(())
            }
            Err(
                object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
            ) => Err(StoreError::Compaction {
                dir: lease.path.to_string(),
                reason: "the lease expired and another compactor took it; this run stops".into(),
            }),
            Err(source) => Err(StoreError::ObjectStore {
                op: "renew the lease",
                path: lease.path.to_string(),
                source,
            }),
        }
    }
}

/// A lease this compactor holds.
#[derive(Debug)]
pub(super) struct HeldLease {
    pub(super) path: Path,
    version: UpdateVersion,
}

impl HeldLease {
    fn new(path: Path, put: object_store::PutResult) -> Self {
        Self {
            path,
            version: UpdateVersion {
                e_tag: put.e_tag,
                version: put.version,
            },
        }
    }
}
