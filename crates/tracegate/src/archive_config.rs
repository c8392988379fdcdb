//! The `archive` exporter a command acts on, from the config (`-c`, or the embedded
//! default): `tracegate lifecycle`, `tracegate compact` and `tracegate query` read it the
//! same way.

use anyhow::{Context as _, bail};
use std::path::Path;
use tracegate_pipeline::config::RawConfig;
use tracegate_pipeline::{ComponentId, parse_section};
use tracegate_store::ArchiveConfig;

/// The config's text: the file, or the embedded default.
pub fn config_text(path: Option<&Path>) -> anyhow::Result<String> {
    match path {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display())),
        None => Ok(crate::DEFAULT_CONFIG.to_owned()),
    }
}

/// The ids of the config's `archive` exporters.
fn archive_ids(raw: &RawConfig) -> Vec<&String> {
    raw.exporters
        .keys()
        .filter(|key| ComponentId::parse(key).is_ok_and(|id| id.type_name() == "archive"))
        .collect()
}

/// The `archive` exporter `exporter`, or the only one there is, with its id: parsed and
/// validated, errors naming the key.
pub fn archive_exporter(
    config: Option<&Path>,
    exporter: Option<&str>,
) -> anyhow::Result<(String, ArchiveConfig)> {
    let text = config_text(config)?;
    let raw = RawConfig::parse(&text).map_err(|e| anyhow::anyhow!("invalid config:\n{e}"))?;
    let archives = archive_ids(&raw);
    let id = match (exporter, archives.as_slice()) {
        (Some(id), _) if archives.iter().any(|a| a.as_str() == id) => id.to_owned(),
        (Some(id), _) => bail!(
            "the config has no archive exporter {id:?}; it has {}",
            list(&archives)
        ),
        (None, [one]) => (*one).clone(),
        (None, []) => bail!("the config has no archive exporter"),
        (None, many) => bail!(
            "the config has {} archive exporters ({}); choose one with --exporter",
            many.len(),
            list(many)
        ),
    };
    parse(&raw, &id).map(|config| (id, config))
}

/// The first `archive` exporter of the config, if it has one.
#[cfg(feature = "sql")]
pub fn first_archive(config: Option<&Path>) -> anyhow::Result<Option<(String, ArchiveConfig)>> {
    let text = config_text(config)?;
    let raw = RawConfig::parse(&text).map_err(|e| anyhow::anyhow!("invalid config:\n{e}"))?;
    let Some(id) = archive_ids(&raw).first().map(|s| (*s).clone()) else {
        return Ok(None);
    };
    parse(&raw, &id).map(|config| Some((id, config)))
}

fn parse(raw: &RawConfig, id: &str) -> anyhow::Result<ArchiveConfig> {
    let value = raw.exporters.get(id).cloned().unwrap_or_default();
    let path = format!("exporters.{id}");
    let config: ArchiveConfig = parse_section(&path, value).map_err(|e| anyhow::anyhow!("{e}"))?;
    config.validate(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(config)
}

fn list(ids: &[&String]) -> String {
    if ids.is_empty() {
        return "none".to_owned();
    }
    ids.iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
