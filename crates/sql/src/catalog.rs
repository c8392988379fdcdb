//! The tables: the archive's four (Hive-partitioned listing tables on its object store) and
//! the hot tier's spans (its blocks on local disk), and `spans`, the two together.
//!
//! | table | what | partitions |
//! |---|---|---|
//! | `spans` | every span tracegate holds, hot or cold, each once | `dt`, `hour` |
//! | `archive_spans` | the archive's `spans` table (the spans of sampled traces, by default) | `dt`, `hour` |
//! | `hot_spans` | the hot tier's blocks (every trace, the last 30 days by default) | |
//! | `traces`, `logs`, `scores` | the archive's tables | `dt`, `hour` |
//!
//! `spans` is `archive_spans`, plus each hot span whose (trace_id, span_id) the archive does
//! not hold: a duplicate has the same start time as its hot twin, so only the archive's
//! partitions from the day of the hot tier's oldest span on are compared. Its `dt` and `hour`
//! of a hot row come from its start time (UTC), as the archive's partitions do.
//!
//! The schemas are the archive's own ([`tracegate_model::schema`]), not inferred, so a file
//! of an older schema version reads with nulls in the columns it lacks. Scans push filters
//! into Parquet (row-group statistics, page indexes and the `trace_id` bloom filter), and a
//! filter on `dt`/`hour` prunes partitions before any file is opened.

use crate::SqlError;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use tracegate_model::schema;

/// The archive's tables, in the order they are registered.
pub const ARCHIVE_TABLES: [&str; 4] = [
    schema::SPANS_TABLE,
    schema::TRACES_TABLE,
    schema::LOGS_TABLE,
    schema::SCORES_TABLE,
];

const ARCHIVE_URL: &str = "tracegate-archive://archive/";
const HOT_URL: &str = "tracegate-hot://hot/";

/// What to query.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The archive: its object store and prefix (from [`tracegate_store::Destination`]).
    pub archive: Option<(Arc<dyn ObjectStore>, Path)>,
    /// A hot store's directory (the `hot_store` exporter's `path`).
    pub hot: Option<PathBuf>,
    /// With multi-tenancy: the tenant whose data is read, and nobody else's (the archive's
    /// `tenant={T}/` prefix, the hot store's directory of `T`). `None`: an archive without
    /// tenants, and the hot store's default tenant.
    pub tenant: Option<String>,
}

/// A session with the tables registered.
pub async fn session(
    sources: &Sources,
    threads: usize,
    memory_limit: usize,
) -> Result<SessionContext, SqlError> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(memory_limit, 1.0)
        .build_arc()?;
    let config = SessionConfig::new()
        .with_target_partitions(threads.max(1))
        .with_information_schema(true)
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        .set_bool("datafusion.execution.parquet.reorder_filters", true)
        .set_bool("datafusion.execution.parquet.bloom_filter_on_read", true);
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    let schemas = [
        schema::spans_schema(),
        schema::traces_schema(),
        schema::logs_schema(),
        schema::scores_schema(),
    ];
    match &sources.archive {
        Some((store, prefix)) => {
            let url = ObjectStoreUrl::parse(ARCHIVE_URL)?;
            // Listed as readers count it through compactions: each span once.
            let view = tracegate_store::compaction::CompactionView::new(store.clone());
            ctx.register_object_store(url.as_ref(), Arc::new(view));
            for (table, schema) in ARCHIVE_TABLES.iter().zip(schemas) {
                let mut dir = prefix.clone().join(*table);
                if let Some(tenant) = &sources.tenant {
                    dir = dir.join(format!("tenant={tenant}"));
                }
                let provider = listing(ARCHIVE_URL, &dir, schema, true).await?;
                ctx.register_table(registered_name(table), provider)?;
            }
        }
        None => {
            for (table, schema) in ARCHIVE_TABLES.iter().zip(schemas) {
                ctx.register_table(registered_name(table), empty(with_partitions(schema))?)?;
            }
        }
    }
    let tenant = sources
        .tenant
        .as_deref()
        .unwrap_or(tracegate_model::DEFAULT_TENANT);
    let hot_dir = sources
        .hot
        .as_ref()
        .and_then(|root| tracegate_store::hot::tenant_dir(root, tenant));
    match hot_dir {
        Some(dir) => {
            let fs = LocalFileSystem::new_with_prefix(&dir).map_err(|e| SqlError::Source {
                what: format!("the hot store's directory {}", dir.display()),
                message: e.to_string(),
            })?;
            let url = ObjectStoreUrl::parse(HOT_URL)?;
            ctx.register_object_store(url.as_ref(), Arc::new(fs));
            let provider =
                listing(HOT_URL, &Path::default(), schema::spans_schema(), false).await?;
            ctx.register_table("hot_spans", provider)?;
        }
        None => {
            ctx.register_table("hot_spans", empty(schema::spans_schema())?)?;
        }
    }
    ctx.sql(&spans_view(&ctx).await?).await?;
    Ok(ctx)
}

/// The name an archive table is registered under: `archive_spans` for its spans (`spans`
/// is the view of hot and cold together), the table's own name otherwise.
fn registered_name(table: &'static str) -> &'static str {
    if table == schema::SPANS_TABLE {
        "archive_spans"
    } else {
        table
    }
}

/// `CREATE VIEW spans AS …`: the archive's spans and the hot spans it lacks.
async fn spans_view(ctx: &SessionContext) -> Result<String, SqlError> {
    let columns: Vec<String> = schema::spans_schema()
        .fields()
        .iter()
        .map(|f| format!("\"{}\"", f.name()))
        .collect();
    let hot_columns: Vec<String> = columns.iter().map(|c| format!("h.{c}")).collect();
    // The oldest hot span bounds the archive partitions a duplicate can be in.
    let floor = ctx
        .sql("SELECT CAST(min(start_time) AS BIGINT) FROM hot_spans")
        .await?
        .collect()
        .await?;
    let floor_ns = floor.first().filter(|b| b.num_rows() > 0).and_then(|b| {
        b.column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .filter(|a| datafusion::arrow::array::Array::is_valid(*a, 0))
            .map(|a| a.value(0))
    });
    let hot = match floor_ns {
        None => String::new(),
        Some(ns) => {
            let day = ns.div_euclid(86_400_000_000_000);
            let (y, m, d) = tracegate_store::layout::civil_from_days(day);
            format!(
                " UNION ALL SELECT {hot}, to_char(h.start_time, '%Y-%m-%d') AS dt, \
                 to_char(h.start_time, '%H') AS hour FROM hot_spans h \
                 LEFT ANTI JOIN (SELECT trace_id AS c_trace_id, span_id AS c_span_id \
                 FROM archive_spans WHERE dt >= '{y:04}-{m:02}-{d:02}') c \
                 ON c.c_trace_id = h.trace_id AND c.c_span_id = h.span_id",
                hot = hot_columns.join(", ")
            )
        }
    };
    Ok(format!(
        "CREATE VIEW spans AS SELECT {}, dt, hour FROM archive_spans{hot}",
        columns.join(", ")
    ))
}

fn with_partitions(schema: SchemaRef) -> SchemaRef {
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    for name in ["dt", "hour"] {
        fields.push(Arc::new(datafusion::arrow::datatypes::Field::new(
            name,
            DataType::Utf8,
            false,
        )));
    }
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn empty(schema: impl Into<SchemaRef>) -> Result<Arc<MemTable>, SqlError> {
    // One partition with no batches: an empty table of that schema.
    Ok(Arc::new(MemTable::try_new(schema.into(), vec![vec![]])?))
}

/// A listing table of the Parquet files under `dir` of the store registered at `base`.
async fn listing(
    base: &str,
    dir: &Path,
    schema: SchemaRef,
    partitioned: bool,
) -> Result<Arc<ListingTable>, SqlError> {
    let dir = dir.as_ref().trim_matches('/');
    let url = if dir.is_empty() {
        base.to_owned()
    } else {
        format!("{base}{dir}/")
    };
    let table_url = ListingTableUrl::parse(&url)?;
    let mut options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    if partitioned {
        options = options.with_table_partition_cols(vec![
            ("dt".to_owned(), DataType::Utf8),
            ("hour".to_owned(), DataType::Utf8),
        ]);
    }
    let config = ListingTableConfig::new(table_url)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}
