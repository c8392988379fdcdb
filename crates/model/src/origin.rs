//! [`Origin`]: which write-ahead-log record a span came from.

/// The write-ahead-log record a span was logged in, or none.
///
/// The gateway stamps it after the append that made the span durable, so that each exporter
/// can tell the log when the span is safe at its destination and the record's segment may be
/// deleted. Spans that never went through a log (tests, a gateway with the WAL turned off)
/// have [`Origin::NONE`]. It is not part of any output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Origin(u64);

impl Origin {
    /// Not logged.
    pub const NONE: Origin = Origin(0);

    /// Logged in the record at `lsn`.
    pub fn logged(lsn: u64) -> Self {
        Origin(lsn.saturating_add(1))
    }

    /// The LSN of the record, if the span was logged.
    pub fn lsn(self) -> Option<u64> {
        self.0.checked_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_is_default_and_distinct_from_lsn_zero() {
        assert_eq!(Origin::default(), Origin::NONE);
        assert_eq!(Origin::NONE.lsn(), None);
        assert_eq!(Origin::logged(0).lsn(), Some(0));
        assert_eq!(Origin::logged(4096).lsn(), Some(4096));
        assert!(Origin::logged(1) < Origin::logged(2));
    }
}
