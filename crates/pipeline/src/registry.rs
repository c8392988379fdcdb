//! Maps component type names to the factories that build them.

use crate::component::{ExporterFactory, ProcessorFactory, ReceiverFactory};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The component types a gateway knows. The binary registers each with one line.
#[derive(Default, Clone)]
pub struct Registry {
    receivers: BTreeMap<&'static str, Arc<dyn ReceiverFactory>>,
    processors: BTreeMap<&'static str, Arc<dyn ProcessorFactory>>,
    exporters: BTreeMap<&'static str, Arc<dyn ExporterFactory>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("receivers", &self.receiver_types())
            .field("processors", &self.processor_types())
            .field("exporters", &self.exporter_types())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a receiver type.
    pub fn with_receiver(mut self, f: impl ReceiverFactory + 'static) -> Self {
        self.receivers.insert(f.type_name(), Arc::new(f));
        self
    }

    /// Adds a processor type.
    pub fn with_processor(mut self, f: impl ProcessorFactory + 'static) -> Self {
        self.processors.insert(f.type_name(), Arc::new(f));
        self
    }

    /// Adds an exporter type.
    pub fn with_exporter(mut self, f: impl ExporterFactory + 'static) -> Self {
        self.exporters.insert(f.type_name(), Arc::new(f));
        self
    }

    /// The receiver factory for `type_name`.
    pub fn receiver(&self, type_name: &str) -> Option<&dyn ReceiverFactory> {
        self.receivers.get(type_name).map(|f| f.as_ref())
    }

    /// The processor factory for `type_name`.
    pub fn processor(&self, type_name: &str) -> Option<&dyn ProcessorFactory> {
        self.processors.get(type_name).map(|f| f.as_ref())
    }

    /// The exporter factory for `type_name`.
    pub fn exporter(&self, type_name: &str) -> Option<&dyn ExporterFactory> {
        self.exporters.get(type_name).map(|f| f.as_ref())
    }

    /// Known receiver types.
    pub fn receiver_types(&self) -> Vec<&'static str> {
        self.receivers.keys().copied().collect()
    }

    /// Known processor types.
    pub fn processor_types(&self) -> Vec<&'static str> {
        self.processors.keys().copied().collect()
    }

    /// Known exporter types.
    pub fn exporter_types(&self) -> Vec<&'static str> {
        self.exporters.keys().copied().collect()
    }
}
