//! What the generator produces: the profile, the seed and the time base.

/// The shape and weight of generated spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Realistic RAG traces: about 10 spans per trace with resource and semantic-convention
    /// attributes, and 1–2 KB prompts in `gen_ai.input.messages` on LLM spans. Encoded, a
    /// `Span` message averages about 415 B; a request averages about 570 B per span, because
    /// every trace carries its own four resources and about nine scopes (about 145 B per span).
    #[default]
    Rag,
    /// The same trees with minimal attributes (at most four per span, `service.name` alone
    /// on resources, short scope names), like the spans of a testbed or an OTel Collector
    /// benchmark: about 130 B per encoded `Span` message, 160 B per span of a request.
    Tiny,
}

/// Configuration of a [`Generator`](crate::Generator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Seed of the random number generator: the same config always yields the same traces.
    pub seed: u64,
    /// Shape and weight of the spans.
    pub profile: Profile,
    /// Start of the first trace, in ns since the Unix epoch. Each later trace starts 1–5 ms
    /// after the previous one.
    pub start_unix_nano: u64,
}

impl GeneratorConfig {
    /// 2026-11-22T06:00:00Z, the default time base.
    pub const DEFAULT_START_UNIX_NANO: u64 = 1_795_327_200_000_000_000;
}

impl Default for GeneratorConfig {
    /// Seed 42, [`Profile::Rag`], starting at [`Self::DEFAULT_START_UNIX_NANO`].
    fn default() -> Self {
        Self {
            seed: 42,
            profile: Profile::Rag,
            start_unix_nano: Self::DEFAULT_START_UNIX_NANO,
        }
    }
}
