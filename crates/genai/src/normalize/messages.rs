//! Rebuilding `gen_ai.input.messages` / `gen_ai.output.messages` (the v1.37+ JSON: a list of
//! `{role, parts: [...]}`, output messages also with `finish_reason`) from the five older
//! carriers:
//!
//! 1. flattened OpenLLMetry attributes `gen_ai.prompt.N.{role,content,tool_call_id,
//!    tool_calls.M.{id,name,arguments}}` / `gen_ai.completion.N.{...,finish_reason}`;
//! 2. flattened OpenInference attributes `llm.input_messages.N.message.{role,content,
//!    contents.M.message_content.{type,text},tool_call_id,tool_calls.M.tool_call.{id,
//!    function.name,function.arguments}}` / `llm.output_messages.N.message.*`;
//! 3. span events `gen_ai.content.prompt` / `gen_ai.content.completion` carrying
//!    `gen_ai.prompt` / `gen_ai.completion` (a JSON list of messages, or plain text);
//! 4. span events `gen_ai.system.message`, `gen_ai.user.message`, `gen_ai.assistant.message`,
//!    `gen_ai.tool.message` with `content` (and `tool_calls`, `id`);
//! 5. span events `gen_ai.choice` with `index`, `finish_reason` and `message` (JSON or a
//!    map) or `content`.
//!
//! Parts are `{"type":"text","content":..}`, `{"type":"tool_call","id":..,"name":..,
//! "arguments":..}` and `{"type":"tool_call_response","id":..,"response":..}`.

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;
use tracegate_model::span::Event;

/// Highest message or part index accepted from flattened keys: a bound on what a sender can
/// make us build.
const MAX_INDEX: usize = 4096;

/// One message being rebuilt.
#[derive(Debug, Default)]
struct Msg {
    role: Option<String>,
    content: Option<String>,
    /// OpenInference `contents.M.message_content.{type,text}`.
    contents: BTreeMap<usize, (Option<String>, Option<String>)>,
    tool_calls: BTreeMap<usize, ToolCall>,
    tool_call_id: Option<String>,
    finish_reason: Option<String>,
}

#[derive(Debug, Default)]
struct ToolCall {
    id: Option<String>,
    name: Option<String>,
    arguments: Option<String>,
}

/// Input or output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Prompts.
    Input,
    /// Completions.
    Output,
}

/// Rebuilt messages: the JSON text and, for output, the finish reasons in order.
#[derive(Debug, Default, PartialEq)]
pub struct Rebuilt {
    /// `gen_ai.*.messages` JSON.
    pub json: Option<String>,
    /// Finish reasons of output messages, by index.
    pub finish_reasons: Vec<String>,
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        other => Some(any_to_json(other).to_string()),
    }
}

fn value(kv: &KeyValue) -> Option<&Value> {
    kv.value.as_ref().and_then(|v| v.value.as_ref())
}

/// Splits `N.rest`.
fn index(rest: &str) -> Option<(usize, &str)> {
    let (n, rest) = rest.split_once('.')?;
    let n: usize = n.parse().ok()?;
    (n <= MAX_INDEX).then_some((n, rest))
}

/// Rebuilds one side from flattened attributes (carriers 1 and 2).
pub fn from_attributes(attrs: &[KeyValue], side: Side) -> Rebuilt {
    let (genai, oi) = match side {
        Side::Input => ("gen_ai.prompt.", "llm.input_messages."),
        Side::Output => ("gen_ai.completion.", "llm.output_messages."),
    };
    let mut msgs: BTreeMap<usize, Msg> = BTreeMap::new();
    for kv in attrs {
        let (rest, openinference) = if let Some(r) = kv.key.strip_prefix(genai) {
            (r, false)
        } else if let Some(r) = kv.key.strip_prefix(oi) {
            (r, true)
        } else {
            continue;
        };
        let Some((n, field)) = index(rest) else {
            continue;
        };
        let field = if openinference {
            match field.strip_prefix("message.") {
                Some(f) => f,
                None => continue,
            }
        } else {
            field
        };
        let v = text(value(kv));
        let msg = msgs.entry(n).or_default();
        match field {
            "role" => msg.role = v,
            "content" => msg.content = v,
            "tool_call_id" => msg.tool_call_id = v,
            "finish_reason" => msg.finish_reason = v,
            _ => {
                if let Some(rest) = field.strip_prefix("tool_calls.") {
                    let Some((m, f)) = index(rest) else {
                        continue;
                    };
                    let call = msg.tool_calls.entry(m).or_default();
                    match f.strip_prefix("tool_call.").unwrap_or(f) {
                        "id" => call.id = v,
                        "name" | "function.name" => call.name = v,
                        "arguments" | "function.arguments" => call.arguments = v,
                        _ => {}
                    }
                } else if let Some(rest) = field.strip_prefix("contents.") {
                    let Some((m, f)) = index(rest) else {
                        continue;
                    };
                    let part = msg.contents.entry(m).or_default();
                    match f {
                        "message_content.type" => part.0 = v,
                        "message_content.text" => part.1 = v,
                        _ => {}
                    }
                }
            }
        }
    }
    finish(msgs.into_values().collect(), side)
}

/// Rebuilds both sides from span events (carriers 3, 4 and 5).
pub fn from_events(events: &[Event]) -> (Rebuilt, Rebuilt) {
    let mut input: Vec<Msg> = Vec::new();
    let mut output: BTreeMap<usize, Msg> = BTreeMap::new();
    let mut next_output = 0usize;
    for ev in events {
        let get = |k: &str| {
            ev.attributes
                .iter()
                .rev()
                .find(|kv| kv.key == k)
                .and_then(value)
        };
        match ev.name.as_str() {
            "gen_ai.content.prompt" => {
                if let Some(v) = get("gen_ai.prompt") {
                    input.extend(messages_from_payload(v, "user"));
                }
            }
            "gen_ai.content.completion" => {
                if let Some(v) = get("gen_ai.completion") {
                    for m in messages_from_payload(v, "assistant") {
                        output.insert(next_output, m);
                        next_output += 1;
                    }
                }
            }
            name @ ("gen_ai.system.message"
            | "gen_ai.user.message"
            | "gen_ai.assistant.message"
            | "gen_ai.tool.message") => {
                let role = name
                    .trim_start_matches("gen_ai.")
                    .trim_end_matches(".message");
                let mut msg = match get("content") {
                    Some(Value::KvlistValue(_)) | None => Msg::default(),
                    Some(v) => Msg {
                        content: text(Some(v)),
                        ..Default::default()
                    },
                };
                msg.role = text(get("role")).or_else(|| Some(role.to_owned()));
                if let Some(calls) = get("tool_calls") {
                    add_tool_calls(&mut msg, &any_or_parsed(calls));
                }
                if role == "tool" {
                    msg.tool_call_id = text(get("id")).or_else(|| text(get("tool_call_id")));
                }
                input.push(msg);
            }
            "gen_ai.choice" => {
                let idx = match get("index") {
                    Some(Value::IntValue(i)) => {
                        usize::try_from(*i).ok().filter(|i| *i <= MAX_INDEX)
                    }
                    _ => None,
                }
                .unwrap_or(next_output);
                let mut msg = match get("message") {
                    Some(v) => match any_or_parsed(v) {
                        Json::Object(o) => msg_from_json(&o, "assistant"),
                        Json::String(s) => Msg {
                            content: Some(s),
                            ..Default::default()
                        },
                        _ => Msg::default(),
                    },
                    None => Msg {
                        content: text(get("content")),
                        ..Default::default()
                    },
                };
                if msg.role.is_none() {
                    msg.role = Some("assistant".into());
                }
                msg.finish_reason = text(get("finish_reason")).or(msg.finish_reason);
                output.insert(idx, msg);
                next_output = next_output.max(idx + 1);
            }
            _ => {}
        }
    }
    (
        finish(input, Side::Input),
        finish(output.into_values().collect(), Side::Output),
    )
}

/// Rebuilds one side from a single payload value, as a structured log carries it (the seed's
/// `prompt` / `response`): a JSON list of messages, one message object, or plain text (one
/// message of the side's default role). On the output side, `finish_reason` is given to
/// messages that name none. The caller bounds the payload.
pub fn from_payload(v: &Value, side: Side, finish_reason: Option<&str>) -> Rebuilt {
    let role = match side {
        Side::Input => "user",
        Side::Output => "assistant",
    };
    let mut msgs = messages_from_payload(v, role);
    if side == Side::Output
        && let Some(fr) = finish_reason
    {
        for m in msgs.iter_mut().filter(|m| m.finish_reason.is_none()) {
            m.finish_reason = Some(fr.to_owned());
        }
    }
    finish(msgs, side)
}

/// `gen_ai.system_instructions` from a system prompt: the JSON list of parts the GenAI
/// conventions give it, one text part, `[{"type":"text","content":..}]`.
pub fn system_instructions(text: &str) -> Option<String> {
    serde_json::to_string(&json!([{"type": "text", "content": text}])).ok()
}

/// A JSON string is parsed; anything else converted.
fn any_or_parsed(v: &Value) -> Json {
    match v {
        Value::StringValue(s) => {
            serde_json::from_str(s).unwrap_or_else(|_| Json::String(s.clone()))
        }
        other => any_to_json(other),
    }
}

/// Messages from a `gen_ai.prompt` / `gen_ai.completion` payload: a JSON list of messages, one
/// message object, or plain text (a single message of `default_role`).
fn messages_from_payload(v: &Value, default_role: &str) -> Vec<Msg> {
    match any_or_parsed(v) {
        Json::Array(items) => items
            .iter()
            .filter_map(|i| match i {
                Json::Object(o) => Some(msg_from_json(o, default_role)),
                Json::String(s) => Some(Msg {
                    role: Some(default_role.into()),
                    content: Some(s.clone()),
                    ..Default::default()
                }),
                _ => None,
            })
            .collect(),
        Json::Object(o) => vec![msg_from_json(&o, default_role)],
        Json::String(s) => vec![Msg {
            role: Some(default_role.into()),
            content: Some(s),
            ..Default::default()
        }],
        _ => Vec::new(),
    }
}

/// An OpenAI-style message object: `{role, content (string or [{type,text}]), tool_calls,
/// tool_call_id, finish_reason}`.
fn msg_from_json(o: &Map<String, Json>, default_role: &str) -> Msg {
    let s = |k: &str| o.get(k).and_then(Json::as_str).map(str::to_owned);
    let mut msg = Msg {
        role: s("role").or_else(|| Some(default_role.into())),
        tool_call_id: s("tool_call_id"),
        finish_reason: s("finish_reason"),
        ..Default::default()
    };
    match o.get("content") {
        Some(Json::String(c)) => msg.content = Some(c.clone()),
        Some(Json::Array(parts)) => {
            for (i, p) in parts.iter().enumerate() {
                let ty = p.get("type").and_then(Json::as_str).map(str::to_owned);
                let tx = p
                    .get("text")
                    .or_else(|| p.get("content"))
                    .and_then(Json::as_str)
                    .map(str::to_owned);
                msg.contents.insert(i, (ty, tx));
            }
        }
        Some(Json::Null) | None => {}
        Some(other) => msg.content = Some(other.to_string()),
    }
    if let Some(calls) = o.get("tool_calls") {
        add_tool_calls(&mut msg, calls);
    }
    msg
}

fn add_tool_calls(msg: &mut Msg, calls: &Json) {
    let Json::Array(calls) = calls else {
        return;
    };
    for (i, c) in calls.iter().enumerate() {
        let f = c.get("function").unwrap_or(c);
        let s = |v: Option<&Json>| match v {
            Some(Json::String(s)) => Some(s.clone()),
            Some(Json::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
        msg.tool_calls.insert(
            i,
            ToolCall {
                id: s(c.get("id")),
                name: s(f.get("name")),
                arguments: s(f.get("arguments")),
            },
        );
    }
}

fn finish(msgs: Vec<Msg>, side: Side) -> Rebuilt {
    if msgs.is_empty() {
        return Rebuilt::default();
    }
    let mut finish_reasons = Vec::new();
    let out: Vec<Json> = msgs
        .into_iter()
        .map(|m| {
            let role = m.role.unwrap_or_else(|| match side {
                Side::Input => "user".into(),
                Side::Output => "assistant".into(),
            });
            let mut parts = Vec::new();
            if role == "tool" && m.tool_call_id.is_some() {
                parts.push(json!({
                    "type": "tool_call_response",
                    "id": m.tool_call_id,
                    "response": m.content.unwrap_or_default(),
                }));
            } else {
                if let Some(c) = m.content {
                    parts.push(json!({"type": "text", "content": c}));
                }
                for (ty, tx) in m.contents.into_values() {
                    match (ty.as_deref(), tx) {
                        (None | Some("text"), Some(t)) => {
                            parts.push(json!({"type": "text", "content": t}))
                        }
                        (Some(ty), tx) => parts.push(json!({"type": ty, "content": tx})),
                        (None, None) => {}
                    }
                }
            }
            for call in m.tool_calls.into_values() {
                let arguments = call
                    .arguments
                    .map(|a| serde_json::from_str::<Json>(&a).unwrap_or(Json::String(a)));
                parts.push(json!({
                    "type": "tool_call",
                    "id": call.id,
                    "name": call.name,
                    "arguments": arguments,
                }));
            }
            let mut obj = Map::new();
            obj.insert("role".into(), Json::String(role));
            obj.insert("parts".into(), Json::Array(parts));
            if side == Side::Output
                && let Some(fr) = m.finish_reason
            {
                finish_reasons.push(fr.clone());
                obj.insert("finish_reason".into(), Json::String(fr));
            }
            Json::Object(obj)
        })
        .collect();
    Rebuilt {
        json: serde_json::to_string(&out).ok(),
        finish_reasons,
    }
}

/// An OTLP value as JSON.
pub fn any_to_json(v: &Value) -> Json {
    match v {
        Value::StringValue(s) => Json::String(s.clone()),
        Value::BoolValue(b) => Json::Bool(*b),
        Value::IntValue(i) => Json::from(*i),
        Value::DoubleValue(d) => serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number),
        Value::BytesValue(b) => Json::String(b.iter().map(|x| format!("{x:02x}")).collect()),
        Value::ArrayValue(a) => Json::Array(
            a.values
                .iter()
                .map(|v| v.value.as_ref().map_or(Json::Null, any_to_json))
                .collect(),
        ),
        Value::KvlistValue(l) => Json::Object(
            l.values
                .iter()
                .map(|kv| (kv.key.clone(), value(kv).map_or(Json::Null, any_to_json)))
                .collect(),
        ),
        Value::StringValueStrindex(i) => Json::from(*i),
    }
}
