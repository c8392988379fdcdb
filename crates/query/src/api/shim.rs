//! TEMPORARY: the traceql public API from contract.md, until h/traceql is merged.
#![allow(missing_docs, dead_code, unused_variables)]
use tracegate_model::Span;
use tracegate_model::proto::common::v1::AnyValue;

#[derive(Debug, Clone)]
pub struct ParseError;
impl ParseError {
    pub fn position(&self) -> usize {
        0
    }
    pub fn is_unsupported(&self) -> bool {
        false
    }
}
impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("shim")
    }
}
impl std::error::Error for ParseError {}
pub fn parse(query: &str) -> Result<Query, ParseError> {
    Err(ParseError)
}
pub fn parse_identifier(text: &str) -> Result<Attribute, ParseError> {
    Err(ParseError)
}
#[derive(Debug, Clone)]
pub struct Query;
impl Query {
    pub fn evaluate<'a>(&self, spans: &'a [Span]) -> Vec<SpanSet<'a>> {
        Vec::new()
    }
    pub fn output_attributes(&self) -> &[Attribute] {
        &[]
    }
    pub fn hints(&self) -> Hints {
        Hints::default()
    }
}
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hints {
    pub service_names: Option<Vec<String>>,
    pub min_span_duration_ns: Option<u64>,
    pub min_trace_duration_ns: Option<u64>,
}
#[derive(Debug)]
pub struct SpanSet<'a> {
    pub spans: Vec<&'a Span>,
    pub matched: usize,
    pub attributes: Vec<(String, Value)>,
}
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Duration(u64),
    Status(u8),
    Kind(u8),
}
impl Value {
    pub fn to_any_value(&self) -> AnyValue {
        AnyValue::default()
    }
}
#[derive(Debug, Clone)]
pub struct Attribute;
impl Attribute {
    pub fn output_key(&self) -> String {
        String::new()
    }
    pub fn value_of(&self, span: &Span, trace: &[Span]) -> Option<Value> {
        None
    }
    pub fn is_intrinsic(&self) -> bool {
        false
    }
    pub fn scope_name(&self) -> &'static str {
        "span"
    }
}
