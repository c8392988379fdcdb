//! Properties of `genai_normalize`: idempotence, and what normalisation must produce (each
//! modelled field exactly as the alias table says, originals kept in place, nothing but
//! canonical or `tracegate.*` keys added, provider names in any casing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;

/// Keys the normaliser reads, plus a bystander.
fn key() -> impl Strategy<Value = String> {
    let mut keys: Vec<String> = ALIASES.iter().map(|a| a.key.to_owned()).collect();
    keys.extend(Field::ALL.iter().map(|f| f.canonical().to_owned()));
    keys.extend(
        [
            "llm.model_name",
            "llm.cost.total",
            "gen_ai.prompt.0.content",
            "gen_ai.prompt.1.role",
            "gen_ai.completion.0.finish_reason",
            "llm.output_messages.0.message.content",
            "gen_ai.response.time_to_first_chunk",
            "ai.response.msToFirstChunk",
            "http.route",
        ]
        .map(str::to_owned),
    );
    proptest::sample::select(keys)
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-zA-Z0-9 ._-]{0,12}".prop_map(Value::StringValue),
        prop_oneof![
            Just("LLM"),
            Just("chat"),
            Just("Anthropic"),
            Just("gpt-4o"),
            Just("stop")
        ]
        .prop_map(|s| Value::StringValue(s.into())),
        (-5i64..100_000).prop_map(Value::IntValue),
        (-1.0f64..10.0).prop_map(Value::DoubleValue),
        any::<bool>().prop_map(Value::BoolValue),
    ]
}

proptest! {
    /// Any mix of dialect attributes: no panic, and a second run changes nothing.
    #[test]
    fn normalising_is_idempotent(attrs in proptest::collection::vec((key(), value()), 0..16)) {
        let once = normalized(attrs.into_iter().map(|(k, v)| attr::kv(k, v)).collect());
        let mut twice = once.clone();
        renormalize(&mut twice);
        prop_assert_eq!(once.attributes, twice.attributes);
    }
}

/// The fields [`expected`] models: canonical wins, else the best-ranked alias, converted.
/// (Operation, finish reasons and cache counts have conversions of their own, covered by
/// the golden tests above.)
const MODELLED: [Field; 8] = [
    Field::Provider,
    Field::RequestModel,
    Field::ResponseModel,
    Field::ConversationId,
    Field::Stream,
    Field::InputTokens,
    Field::OutputTokens,
    Field::Reasoning,
];

const PROVIDERS: [&str; 9] = [
    "openai",
    "Anthropic",
    "vertex_ai",
    "AWS",
    "xai",
    " Mistral ",
    "openai.chat",
    "SomeNewCo",
    "gcp.gemini",
];

/// A value of the type `field` takes.
fn field_value(field: Field) -> BoxedStrategy<Value> {
    match field {
        Field::Provider => proptest::sample::select(PROVIDERS.to_vec())
            .prop_map(|s| Value::StringValue(s.into()))
            .boxed(),
        Field::Stream => any::<bool>().prop_map(Value::BoolValue).boxed(),
        Field::InputTokens | Field::OutputTokens | Field::Reasoning => {
            (0i64..100_000).prop_map(Value::IntValue).boxed()
        }
        _ => "[a-z0-9-]{1,12}".prop_map(Value::StringValue).boxed(),
    }
}

/// For one field: maybe its canonical key, and any of its aliases, each with a value.
fn field_attrs(field: Field) -> BoxedStrategy<Vec<KeyValue>> {
    let mut keys: Vec<&'static str> = vec![field.canonical()];
    keys.extend(ALIASES.iter().filter(|a| a.field == field).map(|a| a.key));
    keys.into_iter()
        .map(|k| {
            proptest::option::of(field_value(field)).prop_map(move |v| v.map(|v| attr::kv(k, v)))
        })
        .collect::<Vec<_>>()
        .prop_map(|kvs| kvs.into_iter().flatten().collect())
        .boxed()
}

/// A span's attributes: every modelled field's, in random order.
fn span_attrs() -> impl Strategy<Value = Vec<KeyValue>> {
    MODELLED
        .iter()
        .map(|&f| field_attrs(f))
        .collect::<Vec<_>>()
        .prop_map(|groups| groups.into_iter().flatten().collect::<Vec<_>>())
        .prop_shuffle()
}

/// What normalisation must make of `field`, worked out from the attributes alone.
fn expected(attrs: &[KeyValue], field: Field) -> Option<Value> {
    let value = |key: &str| attr::get(attrs, key).cloned();
    let provider = |v: Option<Value>, vercel: bool| match v {
        Some(Value::StringValue(s)) => {
            let head = if vercel {
                s.split('.').next().unwrap_or(&s)
            } else {
                &s
            };
            Some(Value::StringValue(normalize_provider(head).into_owned()))
        }
        other => other,
    };
    if let Some(v) = value(field.canonical()) {
        // The canonical value wins; a provider is normalised in place.
        return if field == Field::Provider {
            provider(Some(v), false)
        } else {
            Some(v)
        };
    }
    let best = ALIASES
        .iter()
        .filter(|a| a.field == field && attr::get(attrs, a.key).is_some())
        .min_by_key(|a| a.rank)?;
    let v = value(best.key);
    match best.conv {
        Conv::Provider => provider(v, false),
        Conv::VercelProvider => provider(v, true),
        _ => v,
    }
}

proptest! {
    /// Each modelled field ends up exactly as the alias table says; every attribute sent is
    /// kept where it was (only a canonical provider is normalised in place); what is added
    /// is canonical or tracegate's own; no key appears twice.
    #[test]
    fn normalising_writes_what_the_alias_table_says(attrs in span_attrs()) {
        let span = normalized(attrs.clone());
        for field in MODELLED {
            prop_assert_eq!(
                get(&span, field.canonical()).cloned(),
                expected(&attrs, field),
                "{:?} from {:?}", field, attrs
            );
        }
        prop_assert!(span.attributes.len() >= attrs.len());
        for (out, sent) in span.attributes.iter().zip(&attrs) {
            prop_assert_eq!(&out.key, &sent.key);
            if sent.key != keys::GEN_AI_PROVIDER_NAME {
                prop_assert_eq!(out, sent);
            }
        }
        let canonical: Vec<&str> = Field::ALL.iter().map(|f| f.canonical()).collect();
        for added in &span.attributes[attrs.len()..] {
            prop_assert!(
                canonical.contains(&added.key.as_str()) || added.key.starts_with("tracegate."),
                "added {}", added.key
            );
        }
        let mut seen: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        seen.sort_unstable();
        let before = seen.len();
        seen.dedup();
        prop_assert_eq!(seen.len(), before, "a key twice: {:?}", span.attributes);
    }

    /// Provider names: any casing and surrounding blanks of a known spelling give its
    /// canonical name; an unknown name is trimmed and lower-cased.
    #[test]
    fn provider_names_normalise_whatever_their_case(
        (spelling, canonical) in proptest::sample::select(vec![
            ("vertex_ai", "gcp.vertex_ai"),
            ("anthropic", "anthropic"),
            ("aws", "aws.bedrock"),
            ("amazon_bedrock", "aws.bedrock"),
            ("xai", "x_ai"),
            ("az.ai.openai", "azure.ai.openai"),
            ("mistralai", "mistral_ai"),
            ("watsonx", "ibm.watsonx.ai"),
            ("google", "gcp.gen_ai"),
            ("gemini", "gcp.gemini"),
            ("openai", "openai"),
        ]),
        upper in proptest::collection::vec(any::<bool>(), 16),
        pad in 0usize..3,
        unknown in "[a-zA-Z]{3,10}co",
    ) {
        let cased: String = spelling
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
            .collect();
        let padded = format!("{}{cased}{}", " ".repeat(pad), " ".repeat(pad));
        prop_assert_eq!(normalize_provider(&padded).into_owned(), canonical);
        let sent = format!(" {unknown}");
        prop_assert_eq!(normalize_provider(&sent).into_owned(), unknown.to_ascii_lowercase());
    }
}
