//! Where files go: the archive's Hive-partitioned layout (DESIGN.md §4).
//!
//! ```text
//! {prefix}/{table}/dt=YYYY-MM-DD/hour=HH/{instance}-{ulid}.parquet                 (one tenant)
//! {prefix}/{table}/tenant={T}/dt=YYYY-MM-DD/hour=HH/{instance}-{ulid}.parquet      (multi-tenancy)
//! ```
//!
//! With `service.multitenancy_enabled`, every table (spans, traces, logs, scores) puts a
//! `tenant={T}` level above the date, so one tenant's data is one prefix (to list, read,
//! delete or grant access to), DuckDB's `hive_partitioning` shows it as a `tenant` column,
//! and no file ever holds rows of two tenants. A [`Partition`] is then a (tenant, hour) pair.
//! The tenant id is safe as a path component (it passed
//! [`validate_tenant`](tracegate_model::tenant::validate_tenant): letters, digits and
//! `! - _ . * ' ( )`, never `.` or `..`). Without multi-tenancy there is no `tenant=` level,
//! exactly as before.
//!
//! A span belongs to the UTC hour its start time falls in. The civil date is computed here
//! with Howard Hinnant's `civil_from_days`, so no calendar crate is needed.

use object_store::path::Path;
use std::fmt;
use std::sync::Arc;
use ulid::Ulid;

/// The `spans` table's directory name.
pub const SPANS_TABLE: &str = tracegate_model::schema::SPANS_TABLE;
/// The `traces` table's directory name.
pub const TRACES_TABLE: &str = tracegate_model::schema::TRACES_TABLE;
/// The `logs` table's directory name.
pub const LOGS_TABLE: &str = tracegate_model::schema::LOGS_TABLE;
/// The `scores` table's directory name.
pub const SCORES_TABLE: &str = tracegate_model::schema::SCORES_TABLE;

const NANOS_PER_HOUR: u64 = 3_600 * 1_000_000_000;

/// One UTC hour: the unit of partitioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HourPartition {
    hours_since_epoch: u64,
}

/// A calendar date and hour in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilHour {
    /// Year, such as 2024.
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
}

impl HourPartition {
    /// The hour that `unix_nanos` (ns since the Unix epoch) falls in.
    pub fn of_unix_nanos(unix_nanos: u64) -> Self {
        Self {
            hours_since_epoch: unix_nanos / NANOS_PER_HOUR,
        }
    }

    /// Hours since the Unix epoch.
    pub fn hours_since_epoch(self) -> u64 {
        self.hours_since_epoch
    }

    /// The calendar date and hour.
    pub fn civil(self) -> CivilHour {
        let days = self.hours_since_epoch / 24;
        // u64::MAX ns is about 213,500 days, so the cast cannot truncate.
        let (year, month, day) = civil_from_days(days as i64);
        CivilHour {
            year,
            month,
            day,
            hour: (self.hours_since_epoch % 24) as u32,
        }
    }

    /// The partition's directory: `{prefix}/{table}/dt=YYYY-MM-DD/hour=HH`.
    pub fn dir(self, prefix: &Path, table: &str) -> Path {
        let c = self.civil();
        prefix
            .clone()
            .join(table)
            .join(format!("dt={:04}-{:02}-{:02}", c.year, c.month, c.day))
            .join(format!("hour={:02}", c.hour))
    }
}

impl fmt::Display for HourPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.civil();
        write!(
            f,
            "dt={:04}-{:02}-{:02}/hour={:02}",
            c.year, c.month, c.day, c.hour
        )
    }
}

/// The directory level that names a tenant: `tenant={T}`.
pub const TENANT_KEY: &str = "tenant";

/// One archive partition: an hour, and with multi-tenancy the tenant. A file holds rows of
/// one partition only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    /// The tenant, with multi-tenancy on; `None` without (no `tenant=` level).
    pub tenant: Option<Arc<str>>,
    /// The UTC hour.
    pub hour: HourPartition,
}

impl Partition {
    /// The partition of `hour` for `tenant` (`None`: the layout without tenants).
    pub fn new(tenant: Option<Arc<str>>, hour: HourPartition) -> Self {
        Self { tenant, hour }
    }

    /// The partition's directory: `{prefix}/{table}[/tenant={T}]/dt=YYYY-MM-DD/hour=HH`.
    pub fn dir(&self, prefix: &Path, table: &str) -> Path {
        let c = self.hour.civil();
        let mut dir = tenant_dir(prefix, table, self.tenant.as_deref());
        dir = dir.join(format!("dt={:04}-{:02}-{:02}", c.year, c.month, c.day));
        dir.join(format!("hour={:02}", c.hour))
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(tenant) = &self.tenant {
            write!(f, "{TENANT_KEY}={tenant}/")?;
        }
        self.hour.fmt(f)
    }
}

/// The directory of one tenant's files of `table`: `{prefix}/{table}/tenant={T}`, or
/// `{prefix}/{table}` for `None` (no multi-tenancy). Cold reads for a tenant list only this.
pub fn tenant_dir(prefix: &Path, table: &str, tenant: Option<&str>) -> Path {
    let dir = prefix.clone().join(table);
    match tenant {
        Some(t) => dir.join(format!("{TENANT_KEY}={t}")),
        None => dir,
    }
}

/// The tenant an archive file's path names: the `tenant={T}` level right below
/// `{prefix}/{table}/`, if it has one (`None`: a file of the layout without tenants).
///
/// Object store paths percent-encode a few characters a tenant id may hold (`*` is `%2A`);
/// they are decoded, so the tenant is the id as the client sent it.
pub fn tenant_of_path(prefix: &Path, table: &str, path: &str) -> Option<String> {
    let below = tenant_dir(prefix, table, None);
    let rest = path.strip_prefix(below.as_ref())?.strip_prefix('/')?;
    let level = rest.split('/').next()?;
    let encoded = level.strip_prefix("tenant=").filter(|t| !t.is_empty())?;
    Some(percent_decode(encoded))
}

/// `%XX` escapes of ASCII replaced by the byte; anything else kept as it is.
fn percent_decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match code {
            Some(byte) if byte.is_ascii() => {
                out.push(char::from(byte));
                rest = &rest[i + 3..];
            }
            _ => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The path of a new file: `{prefix}/{table}/dt=YYYY-MM-DD/hour=HH/{instance}-{ulid}.parquet`
/// (the layout without tenants; [`partition_file_path`] for either).
pub fn file_path(
    prefix: &Path,
    table: &str,
    partition: HourPartition,
    instance: &str,
    id: Ulid,
) -> Path {
    partition_file_path(
        prefix,
        table,
        &Partition::new(None, partition),
        instance,
        id,
    )
}

/// The path of a new file of `partition`:
/// `{prefix}/{table}[/tenant={T}]/dt=YYYY-MM-DD/hour=HH/{instance}-{ulid}.parquet`.
///
/// `instance` is kept to letters, digits, `.`, `_` and `-` (anything else becomes `_`), so the
/// name is safe on every object store and file system; one that starts like a compacted
/// file's name (`compacted-g`) gets an `x` in front.
pub fn partition_file_path(
    prefix: &Path,
    table: &str,
    partition: &Partition,
    instance: &str,
    id: Ulid,
) -> Path {
    let mut name = String::with_capacity(instance.len() + 36);
    if instance.is_empty() {
        name.push_str("tracegate");
    }
    name.extend(instance.chars().map(|c| {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            c
        } else {
            '_'
        }
    }));
    if name.starts_with(crate::compaction::record::OUTPUT_PREFIX) {
        // That prefix is compaction's (its uncommitted files are not counted).
        name.insert(0, 'x');
    }
    name.push('-');
    name.push_str(&id.to_string());
    name.push_str(".parquet");
    partition.dir(prefix, table).join(name)
}

/// The hour partition a file's path names: its `dt=YYYY-MM-DD` and `hour=HH` levels, the
/// last pair of them in the path (`None` when there is none, or the date does not exist,
/// such as `dt=2026-02-30`, or lies before 1970). The inverse of [`HourPartition::dir`].
pub fn hour_of_path(path: &str) -> Option<HourPartition> {
    let mut levels = path.rsplit('/');
    // The level after `dt=` must be `hour=`; the file name (or nothing) comes last.
    let mut hour = None;
    for level in levels.by_ref() {
        if let Some(h) = level.strip_prefix("hour=") {
            hour = Some(h);
        } else if let Some(date) = level.strip_prefix("dt=") {
            let hour: u32 = hour?.parse().ok().filter(|h: &u32| *h < 24)?;
            let mut parts = date.splitn(3, '-');
            let year: i64 = parts.next()?.parse().ok()?;
            let month: u32 = parts.next()?.parse().ok()?;
            let day: u32 = parts.next()?.parse().ok()?;
            let days = days_from_civil(year, month, day)?;
            let days = u64::try_from(days).ok()?;
            return Some(HourPartition {
                hours_since_epoch: days.checked_mul(24)?.checked_add(u64::from(hour))?,
            });
        } else {
            hour = None;
        }
    }
    None
}

/// Days since 1970-01-01 of a proleptic Gregorian date, the inverse of [`civil_from_days`]
/// (Howard Hinnant's `days_from_civil`); `None` for a month or day that does not exist.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_len = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > month_len || !(-1_000_000..=1_000_000).contains(&year) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = i64::from(if month > 2 { month - 3 } else { month + 9 }); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    Some(era * 146_097 + doe - 719_468)
}

/// The proleptic Gregorian date of a day count since 1970-01-01, as (year, month, day).
///
/// Howard Hinnant's algorithm (<https://howardhinnant.github.io/date_algorithms.html>): shift
/// the epoch to 0000-03-01 so leap days come last in each year, split into 400-year eras of
/// 146,097 days, then find the year of the era, the day of the year and the month.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NS: u64 = 1_000_000_000;

    fn at(unix_secs: u64, extra_nanos: u64) -> String {
        HourPartition::of_unix_nanos(unix_secs * NS + extra_nanos).to_string()
    }

    #[test]
    fn golden_partitions() {
        assert_eq!(at(0, 0), "dt=1970-01-01/hour=00");
        // 2024-02-29T23:59:59.999Z, a leap day's last millisecond.
        assert_eq!(at(1_709_251_199, 999_000_000), "dt=2024-02-29/hour=23");
        // One millisecond later is March.
        assert_eq!(at(1_709_251_200, 0), "dt=2024-03-01/hour=00");
        // Year boundaries.
        assert_eq!(at(1_704_067_199, 999_999_999), "dt=2023-12-31/hour=23");
        assert_eq!(at(1_704_067_200, 0), "dt=2024-01-01/hour=00");
        assert_eq!(at(946_684_800, 0), "dt=2000-01-01/hour=00");
        // 2100 is not a leap year: Feb 28 is followed by Mar 1.
        assert_eq!(at(4_107_542_400, 0), "dt=2100-03-01/hour=00");
        assert_eq!(at(4_107_542_399, 0), "dt=2100-02-28/hour=23");
        // The generator's default time base, 2026-11-22T06:00:00Z.
        assert_eq!(at(1_795_327_200, 0), "dt=2026-11-22/hour=06");
        // The largest u64 timestamp, 2554-07-21T23:34:33Z.
        assert_eq!(
            HourPartition::of_unix_nanos(u64::MAX).to_string(),
            "dt=2554-07-21/hour=23"
        );
    }

    #[test]
    fn file_paths_follow_the_hive_layout() {
        let id = Ulid::from_string("01JDQ3ZK9W2E8Y1V0C4T5N6M7P").unwrap();
        let p = HourPartition::of_unix_nanos(1_709_251_199 * NS);
        let path = file_path(&Path::from("llm-traces/prod"), SPANS_TABLE, p, "gw-1", id);
        assert_eq!(
            path.as_ref(),
            "llm-traces/prod/spans/dt=2024-02-29/hour=23/gw-1-01JDQ3ZK9W2E8Y1V0C4T5N6M7P.parquet"
        );
        let path = file_path(&Path::default(), SPANS_TABLE, p, "host/a b", id);
        assert_eq!(
            path.as_ref(),
            "spans/dt=2024-02-29/hour=23/host_a_b-01JDQ3ZK9W2E8Y1V0C4T5N6M7P.parquet"
        );
        let path = file_path(&Path::default(), SPANS_TABLE, p, "", id);
        assert!(
            path.as_ref()
                .ends_with("/tracegate-01JDQ3ZK9W2E8Y1V0C4T5N6M7P.parquet")
        );
    }

    #[test]
    fn an_instance_never_names_a_file_as_compaction_does() {
        let id = Ulid::from_string("01JDQ3ZK9W2E8Y1V0C4T5N6M7P").unwrap();
        let hour = HourPartition::of_unix_nanos(1_709_251_199 * NS);
        let path = file_path(&Path::from("a"), SPANS_TABLE, hour, "compacted-g000001", id);
        let name = path.filename().unwrap();
        assert_eq!(
            name,
            "xcompacted-g000001-01JDQ3ZK9W2E8Y1V0C4T5N6M7P.parquet"
        );
        assert_eq!(crate::compaction::record::generation_of(name), None);
    }

    #[test]
    fn tenant_partitions_put_the_tenant_above_the_date() {
        let id = Ulid::from_string("01JDQ3ZK9W2E8Y1V0C4T5N6M7P").unwrap();
        let hour = HourPartition::of_unix_nanos(1_709_251_199 * NS);
        let prefix = Path::from("llm-traces/prod");
        for (table, tenant) in [
            (SPANS_TABLE, "team-a"),
            (TRACES_TABLE, "(prod)*"),
            (LOGS_TABLE, "a'b!"),
            (SCORES_TABLE, "x.y_1"),
        ] {
            let p = Partition::new(Some(Arc::from(tenant)), hour);
            let path = partition_file_path(&prefix, table, &p, "gw-1", id);
            // The object store escapes `*` (GCS advises against it); nothing else a tenant
            // id may hold.
            let escaped = tenant.replace('*', "%2A");
            assert_eq!(
                path.as_ref(),
                format!(
                    "llm-traces/prod/{table}/tenant={escaped}/dt=2024-02-29/hour=23/\
                     gw-1-01JDQ3ZK9W2E8Y1V0C4T5N6M7P.parquet"
                )
            );
            assert_eq!(
                tenant_of_path(&prefix, table, path.as_ref()).as_deref(),
                Some(tenant)
            );
            assert_eq!(
                p.to_string(),
                format!("tenant={tenant}/dt=2024-02-29/hour=23")
            );
            assert!(path.as_ref().starts_with(&format!(
                "{}/",
                tenant_dir(&prefix, table, Some(tenant)).as_ref()
            )));
        }
        // Without a tenant: exactly the old layout.
        let p = Partition::new(None, hour);
        assert_eq!(
            partition_file_path(&prefix, SPANS_TABLE, &p, "gw-1", id),
            file_path(&prefix, SPANS_TABLE, hour, "gw-1", id)
        );
        assert_eq!(p.to_string(), "dt=2024-02-29/hour=23");
        assert_eq!(
            tenant_dir(&prefix, SPANS_TABLE, None).as_ref(),
            "llm-traces/prod/spans"
        );
        assert_eq!(
            tenant_of_path(
                &prefix,
                SPANS_TABLE,
                "llm-traces/prod/spans/dt=2024-02-29/hour=23/gw-1-x.parquet"
            ),
            None
        );
        // A prefix that happens to hold `tenant=` is not a tenant level.
        let odd = Path::from("tenant=x");
        assert_eq!(
            tenant_of_path(
                &odd,
                SPANS_TABLE,
                "tenant=x/spans/dt=2024-02-29/hour=23/a.parquet"
            ),
            None
        );
        assert_eq!(percent_decode("a%2Ab%zz%"), "a*b%zz%");
    }

    /// A slow, obviously correct civil date: count whole years, then whole months.
    fn reference_civil(mut days: u64) -> (i64, u32, u32) {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let mut year = 1970;
        loop {
            let len = if leap(year) { 366 } else { 365 };
            if days < len {
                break;
            }
            days -= len;
            year += 1;
        }
        let months = [
            31,
            if leap(year) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        let mut month = 1;
        for len in months {
            if days < len {
                break;
            }
            days -= len;
            month += 1;
        }
        (year, month, days as u32 + 1)
    }

    #[test]
    fn golden_paths_name_their_hour() {
        let hour = |p: &str| hour_of_path(p).map(|h| h.to_string());
        assert_eq!(
            hour("llm/spans/dt=2024-02-29/hour=23/gw-1.parquet").as_deref(),
            Some("dt=2024-02-29/hour=23")
        );
        assert_eq!(
            hour("spans/tenant=a/dt=1970-01-01/hour=00/x.parquet").as_deref(),
            Some("dt=1970-01-01/hour=00")
        );
        assert_eq!(
            hour("spans/dt=2026-02-30/hour=01/x.parquet"),
            None,
            "no such day"
        );
        assert_eq!(
            hour("spans/dt=2026-02-28/hour=24/x.parquet"),
            None,
            "no such hour"
        );
        assert_eq!(hour("spans/dt=2026-02-28/x.parquet"), None, "no hour level");
        assert_eq!(
            hour("spans/dt=1969-12-31/hour=23/x.parquet"),
            None,
            "before 1970"
        );
        assert_eq!(
            hour("spans/dt=2026-2-28/hour=3/x.parquet").as_deref(),
            Some("dt=2026-02-28/hour=03")
        );
        assert_eq!(
            hour("spans/dt=2026-01-01/y=1/hour=3/x.parquet"),
            None,
            "hour not right below dt"
        );
        assert_eq!(hour("x.parquet"), None);
        assert_eq!(
            HourPartition::of_unix_nanos(1_709_251_199 * NS).hours_since_epoch(),
            hour_of_path("dt=2024-02-29/hour=23/f")
                .unwrap()
                .hours_since_epoch()
        );
    }

    proptest! {
        #[test]
        fn civil_date_matches_the_reference(nanos in any::<u64>()) {
            let c = HourPartition::of_unix_nanos(nanos).civil();
            let secs = nanos / NS;
            let (y, m, d) = reference_civil(secs / 86_400);
            prop_assert_eq!((c.year, c.month, c.day), (y, m, d));
            prop_assert_eq!(u64::from(c.hour), secs % 86_400 / 3_600);
        }

        #[test]
        fn a_partition_dir_parses_back_to_its_hour(nanos in any::<u64>(), tenant in proptest::option::of("[a-z]{1,8}")) {
            let hour = HourPartition::of_unix_nanos(nanos);
            let partition = Partition::new(tenant.map(Arc::from), hour);
            let path = partition_file_path(&Path::from("p/q"), SPANS_TABLE, &partition, "gw", Ulid::nil());
            prop_assert_eq!(hour_of_path(path.as_ref()), Some(hour));
        }

        #[test]
        fn days_from_civil_inverts_civil_from_days(days in 0i64..100_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), Some(days));
        }
    }
}
