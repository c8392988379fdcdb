//! The services of the synthetic RAG application and their instrumentation scopes.

use crate::config::Profile;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use rand::rngs::StdRng;
use tracegate_model::attr;

/// A service: one OTLP resource.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServiceDef {
    pub name: &'static str,
    pub version: &'static str,
    /// Kubernetes deployment hash that prefixes the pod (host) names.
    pub replica_set: &'static str,
}

/// The services, in the order their resource spans appear in a request.
pub(crate) const SERVICES: [ServiceDef; 4] = [
    ServiceDef {
        name: "chat-gateway",
        version: "2.14.1",
        replica_set: "7d9f8c6b5",
    },
    ServiceDef {
        name: "retriever",
        version: "1.8.0",
        replica_set: "5c4b9f7d8",
    },
    ServiceDef {
        name: "reranker",
        version: "0.9.3",
        replica_set: "6f8d7c9b4",
    },
    ServiceDef {
        name: "llm-service",
        version: "3.2.0",
        replica_set: "84c6d5f9b",
    },
];

/// Index of a service in [`SERVICES`].
pub(crate) const GATEWAY: usize = 0;
pub(crate) const RETRIEVER: usize = 1;
pub(crate) const RERANKER: usize = 2;
pub(crate) const LLM_SERVICE: usize = 3;

/// An instrumentation scope, owned by one service.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScopeDef {
    pub service: usize,
    pub name: &'static str,
    pub version: &'static str,
}

/// Every scope, grouped by service in [`SERVICES`] order; a request lists them in this order.
pub(crate) const SCOPES: [ScopeDef; 11] = [
    ScopeDef {
        service: GATEWAY,
        name: "opentelemetry.instrumentation.fastapi",
        version: "0.59b0",
    },
    ScopeDef {
        service: GATEWAY,
        name: "openinference.instrumentation.langchain",
        version: "0.1.51",
    },
    ScopeDef {
        service: GATEWAY,
        name: "opentelemetry.instrumentation.httpx",
        version: "0.59b0",
    },
    ScopeDef {
        service: RETRIEVER,
        name: "opentelemetry.instrumentation.fastapi",
        version: "0.59b0",
    },
    ScopeDef {
        service: RETRIEVER,
        name: "opentelemetry.instrumentation.openai",
        version: "0.47.3",
    },
    ScopeDef {
        service: RETRIEVER,
        name: "opentelemetry.instrumentation.qdrant",
        version: "0.47.3",
    },
    ScopeDef {
        service: RETRIEVER,
        name: "opentelemetry.instrumentation.elasticsearch",
        version: "0.59b0",
    },
    ScopeDef {
        service: RERANKER,
        name: "opentelemetry.instrumentation.fastapi",
        version: "0.59b0",
    },
    ScopeDef {
        service: RERANKER,
        name: "opentelemetry.instrumentation.cohere",
        version: "0.47.3",
    },
    ScopeDef {
        service: LLM_SERVICE,
        name: "opentelemetry.instrumentation.openai",
        version: "0.47.3",
    },
    ScopeDef {
        service: LLM_SERVICE,
        name: "opentelemetry.instrumentation.anthropic",
        version: "0.47.3",
    },
];

/// Index of a scope in [`SCOPES`].
pub(crate) const GW_HTTP: usize = 0;
pub(crate) const GW_CHAIN: usize = 1;
pub(crate) const GW_CLIENT: usize = 2;
pub(crate) const RET_HTTP: usize = 3;
pub(crate) const RET_EMBED: usize = 4;
pub(crate) const RET_QDRANT: usize = 5;
pub(crate) const RET_ELASTIC: usize = 6;
pub(crate) const RR_HTTP: usize = 7;
pub(crate) const RR_COHERE: usize = 8;
pub(crate) const LLM_OPENAI: usize = 9;
pub(crate) const LLM_ANTHROPIC: usize = 10;

/// How many replicas (distinct `host.name`s) each service runs.
pub(crate) const REPLICAS: usize = 3;

/// Resources and scopes built once per generator and cloned into each trace.
#[derive(Debug, Clone)]
pub(crate) struct Templates {
    /// `[service][replica]`.
    resources: Vec<Vec<Resource>>,
    scopes: Vec<InstrumentationScope>,
}

impl Templates {
    pub(crate) fn new(profile: Profile, rng: &mut StdRng) -> Self {
        let resources = SERVICES
            .iter()
            .map(|service| {
                (0..REPLICAS)
                    .map(|_| Resource {
                        attributes: resource_attributes(profile, service, rng),
                        ..Default::default()
                    })
                    .collect()
            })
            .collect();
        let scopes = SCOPES
            .iter()
            .map(|s| match profile {
                Profile::Rag => InstrumentationScope {
                    name: s.name.to_owned(),
                    version: s.version.to_owned(),
                    ..Default::default()
                },
                // The last part of the name: "fastapi", "openai", ...
                Profile::Tiny => InstrumentationScope {
                    name: s.name.rsplit('.').next().unwrap_or(s.name).to_owned(),
                    ..Default::default()
                },
            })
            .collect();
        Self { resources, scopes }
    }

    /// The resource of `service` as run by `replica`.
    pub(crate) fn resource(&self, service: usize, replica: usize) -> Option<Resource> {
        self.resources
            .get(service)
            .and_then(|r| r.get(replica))
            .cloned()
    }

    /// The scope at `index` in [`SCOPES`].
    pub(crate) fn scope(&self, index: usize) -> Option<InstrumentationScope> {
        self.scopes.get(index).cloned()
    }
}

fn resource_attributes(profile: Profile, service: &ServiceDef, rng: &mut StdRng) -> Vec<KeyValue> {
    let mut attrs = vec![attr::string("service.name", service.name)];
    if profile == Profile::Tiny {
        return attrs;
    }
    let mut host = String::with_capacity(service.name.len() + 16);
    host.push_str(service.name);
    host.push('-');
    host.push_str(service.replica_set);
    host.push('-');
    host.push_str(&pod_suffix(rng));
    attrs.extend([
        attr::string("service.version", service.version),
        attr::string("deployment.environment", "production"),
        attr::string("host.name", host),
        attr::string("telemetry.sdk.name", "opentelemetry"),
        attr::string("telemetry.sdk.language", "python"),
        attr::string("telemetry.sdk.version", "1.38.0"),
    ]);
    attrs
}

/// Five characters as Kubernetes uses in pod names.
fn pod_suffix(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| char::from(*crate::text::pick(rng, ALPHABET)))
        .collect()
}
