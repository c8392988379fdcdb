//! [`Batch`]: the records of one group commit, written with vectored writes so the payloads
//! are never copied into a buffer of the writer's own.

use crate::record;
use bytes::Bytes;
use std::io::{IoSlice, Write};

/// Records waiting for one write: headers and payloads, in order.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    headers: Vec<[u8; record::HEADER_BYTES]>,
    payloads: Vec<Bytes>,
    /// Bytes on disk: headers and payloads.
    pub(crate) len: u64,
}

/// `writev` takes at most this many buffers (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;

impl Batch {
    pub(crate) fn push(&mut self, header: [u8; record::HEADER_BYTES], payload: Bytes) {
        self.len += (header.len() + payload.len()) as u64;
        self.headers.push(header);
        self.payloads.push(payload);
    }

    pub(crate) fn clear(&mut self) {
        self.headers.clear();
        self.payloads.clear();
        self.len = 0;
    }

    /// Writes every header and payload, in order, with as few `writev` calls as the kernel
    /// allows; retries short writes.
    pub(crate) fn write_to(&self, file: &mut std::fs::File) -> std::io::Result<()> {
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(2 * self.headers.len());
        for (h, p) in self.headers.iter().zip(&self.payloads) {
            slices.push(IoSlice::new(h));
            if !p.is_empty() {
                slices.push(IoSlice::new(p));
            }
        }
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let chunk = rest.len().min(IOV_MAX);
            let n = match file.write_vectored(&rest[..chunk]) {
                Ok(0) => return Err(std::io::Error::from(std::io::ErrorKind::WriteZero)),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            IoSlice::advance_slices(&mut rest, n);
        }
        Ok(())
    }

    /// Writes only the first record's header (a write cut short, for tests).
    #[cfg(test)]
    pub(crate) fn write_first_header(&self, file: &mut std::fs::File) -> std::io::Result<()> {
        match self.headers.first() {
            Some(h) => file.write_all(h),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_more_records_than_writev_takes_is_written_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment");
        let mut file = std::fs::File::create(&path).unwrap();
        let mut batch = Batch::default();
        let payloads: Vec<Vec<u8>> = (0..1500u32)
            .map(|i| vec![(i % 251) as u8; (i % 7) as usize])
            .collect();
        for p in &payloads {
            batch.push(record::header(batch.len, p), Bytes::from(p.clone()));
        }
        batch.write_to(&mut file).unwrap();
        drop(file);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, batch.len);
        let got: Vec<Vec<u8>> = record::Scan::new(&bytes, 0)
            .filter_map(|item| match item {
                record::Item::Record { payload, .. } => Some(bytes[payload].to_vec()),
                _ => None,
            })
            .collect();
        assert_eq!(got, payloads);
    }
}
