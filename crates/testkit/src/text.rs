//! Cheap realistic text: prompts and completions assembled from a static corpus.
//!
//! Every string here is free of `"` and `\`, so it can be written into JSON unescaped; the
//! only escape the builders emit is `\n` between paragraphs.

use rand::Rng;
use rand::rngs::StdRng;

/// The system prompt of the chat assistant.
pub(crate) const SYSTEM_PROMPT: &str = "You are Northwind Cloud's support assistant. Answer the \
user's question using only the numbered context passages. Cite passages as [n]. If the context \
does not contain the answer, say so and suggest opening a support ticket. Be concise.";

/// Questions users ask the assistant.
pub(crate) const QUESTIONS: &[&str] = &[
    "How do I rotate the API keys for my production project?",
    "Why does my deployment fail with a quota exceeded error?",
    "Can I restore a database snapshot into a different region?",
    "What is the retention period for audit logs on the Team plan?",
    "How do I configure single sign-on with Okta?",
    "My webhook deliveries are delayed by several minutes. What can I check?",
    "Is it possible to pin a container image to a specific digest?",
    "How are egress bytes billed between availability zones?",
    "What happens to running jobs when I downgrade my plan?",
    "How do I invite a contractor with read-only access to one project?",
    "Why is my autoscaler not adding nodes during traffic spikes?",
    "Where can I download invoices for the last fiscal year?",
    "How do I enable point-in-time recovery for Postgres?",
    "Can I use my own domain for the hosted status page?",
    "What rate limits apply to the public REST API?",
    "How do I move a project between organizations?",
    "Does the object storage service support lifecycle rules?",
    "Why are my scheduled functions running twice?",
    "How can I export metrics to my own Prometheus?",
    "What encryption is used for data at rest?",
];

/// Knowledge-base passages the retriever returns.
pub(crate) const PASSAGES: &[&str] = &[
    "API keys are scoped to a project and can be rotated from Settings, Access, API keys; the old key stays valid for 24 hours after rotation.",
    "Rotating a key emits an audit event and notifies every project owner by email.",
    "Deployments fail with QUOTA_EXCEEDED when the organization reaches its vCPU or memory limit for the region.",
    "Quota increases can be requested from the Billing page and are usually approved within one business day.",
    "Database snapshots are stored in the region where they were taken and can be copied to another region before restoring.",
    "Cross-region snapshot copies are billed as inter-region transfer at the standard egress rate.",
    "Audit logs are retained for 90 days on the Team plan and for 400 days on the Enterprise plan.",
    "Single sign-on supports SAML 2.0 and OpenID Connect; Okta, Azure AD and Google Workspace have guided setups.",
    "After enabling SSO, owners can enforce it for all members and keep one break-glass account with a password.",
    "Webhook deliveries are retried with exponential backoff for up to 24 hours when the endpoint returns a 5xx status.",
    "A webhook endpoint that responds slower than 10 seconds is treated as failed and retried later.",
    "Container images can be referenced by tag or by sha256 digest; digests guarantee that redeploys use identical layers.",
    "Traffic between availability zones in the same region is billed at 0.01 USD per GB in each direction.",
    "When a plan is downgraded, running jobs finish normally but new jobs are limited to the lower concurrency.",
    "Roles can be granted per project; the Viewer role gives read-only access to resources, logs and metrics.",
    "The cluster autoscaler adds nodes when pods stay pending for more than 30 seconds and the node pool has headroom.",
    "Autoscaling is capped by the maximum node count of the pool and by the regional vCPU quota.",
    "Invoices for the last 24 months can be downloaded as PDF from Billing, History.",
    "Point-in-time recovery for Postgres keeps write-ahead logs for 7 days and restores to any second in that window.",
    "Enabling point-in-time recovery restarts the database once and increases storage usage by about 20 percent.",
    "Hosted status pages accept a custom domain after you add a CNAME record and verify ownership.",
    "The public REST API allows 600 requests per minute per token and returns 429 with a Retry-After header above that.",
    "Projects can be transferred between organizations by an owner of both; billing moves with the project.",
    "Object storage buckets support lifecycle rules that expire or transition objects by prefix and age.",
    "Scheduled functions run at least once; handlers should be idempotent because a retry can follow a timeout.",
    "Every service exposes metrics in Prometheus format and can remote-write to an external endpoint.",
    "Data at rest is encrypted with AES-256; Enterprise customers can bring their own keys through the KMS integration.",
    "Backups are encrypted with the same key as the primary data and are never stored outside the chosen region.",
    "Support tickets opened from the console include the project id and recent error events automatically.",
    "Maintenance windows are announced seven days in advance on the status page and by email.",
    "The command line tool reads credentials from the NW_TOKEN environment variable or from the login profile.",
    "Usage alerts can be configured per project to notify a channel when spending crosses a threshold.",
];

/// Sentences of the assistant's answers.
pub(crate) const ANSWERS: &[&str] = &[
    "You can rotate the key from Settings, Access, API keys; the previous key keeps working for 24 hours [1].",
    "This error means the organization reached its regional vCPU quota [3].",
    "You can request a higher quota from the Billing page [4].",
    "Copy the snapshot to the target region first, then restore it there [5].",
    "On the Team plan audit logs are kept for 90 days [7].",
    "Okta has a guided setup under Settings, Single sign-on [8].",
    "Slow endpoints are retried with exponential backoff, so check the response time of your handler [10].",
    "Reference the image by its sha256 digest to pin it [12].",
    "Running jobs finish normally after a downgrade [14].",
    "Grant the Viewer role on that project for read-only access [15].",
    "The autoscaler is probably capped by the pool's maximum node count [17].",
    "Enable point-in-time recovery in the database settings; it keeps 7 days of logs [19].",
    "I could not find this in the documentation; please open a support ticket from the console.",
    "Let me know if you need the exact steps for the command line tool.",
];

/// Tools the agent can call: name, argument name, the prefix of the argument's value, and
/// the tool's response.
pub(crate) const TOOLS: &[(&str, &str, &str, &str)] = &[
    (
        "get_project_quota",
        "project_id",
        "prj_",
        "vcpu_used=96 vcpu_limit=96 region=eu-west-1",
    ),
    (
        "lookup_invoice",
        "invoice_id",
        "inv_",
        "status=paid amount_usd=1840.00 period=2026-10",
    ),
    (
        "search_status_page",
        "query",
        "incident ",
        "no open incidents; last resolved 2 days ago",
    ),
    (
        "create_support_ticket",
        "reference",
        "case_",
        "ticket created with priority p3",
    ),
];
/// Picks one element of a non-empty slice.
pub(crate) fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Builds `gen_ai.input.messages`: a system and a user message, the user message holding
/// numbered context passages (distinct ones) and the question; then, when `tool_calls` is not
/// empty, the assistant's tool calls and the tools' responses. The JSON is at least
/// `target_len` bytes long and exceeds it by less than one passage (at most 150 bytes).
pub(crate) fn input_messages(
    rng: &mut StdRng,
    question: &str,
    target_len: usize,
    tool_calls: &[ToolCall],
) -> String {
    const HEAD_SYSTEM: &str = "[{\"role\":\"system\",\"parts\":[{\"type\":\"text\",\"content\":\"";
    const HEAD_USER: &str =
        "\"}]},{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"Context:";
    const QUESTION: &str = "\\n\\nQuestion: ";

    let mut tail = String::with_capacity(128 + tool_calls.len() * 200);
    tail.push_str(QUESTION);
    tail.push_str(question);
    tail.push_str("\"}]}");
    if !tool_calls.is_empty() {
        tail.push_str(",{\"role\":\"assistant\",\"parts\":[");
        push_tool_call_parts(&mut tail, tool_calls);
        tail.push_str("]},{\"role\":\"tool\",\"parts\":[");
        for (i, call) in tool_calls.iter().enumerate() {
            if i > 0 {
                tail.push(',');
            }
            tail.push_str("{\"type\":\"tool_call_response\",\"id\":\"");
            tail.push_str(&call.call_id);
            tail.push_str("\",\"response\":\"");
            tail.push_str(TOOLS.get(call.tool).map_or("", |t| t.3));
            tail.push_str("\"}");
        }
        tail.push_str("]}");
    }
    tail.push(']');

    let mut out = String::with_capacity((target_len + 160).max(512 + tail.len()));
    out.push_str(HEAD_SYSTEM);
    out.push_str(SYSTEM_PROMPT);
    out.push_str(HEAD_USER);
    // Walk the passages with a stride coprime to their number, so none repeats.
    let len = PASSAGES.len();
    let first = rng.random_range(0..len);
    let mut stride = rng.random_range(1..len);
    while gcd(stride, len) != 1 {
        stride -= 1;
    }
    let mut n = 0;
    while out.len() + tail.len() < target_len && n < len {
        let passage = PASSAGES
            .get((first + n * stride) % len)
            .copied()
            .unwrap_or_default();
        n += 1;
        out.push_str("\\n[");
        push_u32(&mut out, n as u32);
        out.push_str("] ");
        out.push_str(passage);
    }
    out.push_str(&tail);
    out
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Builds `gen_ai.output.messages` for a text answer of `sentences` sentences.
pub(crate) fn output_text_message(rng: &mut StdRng, sentences: usize, finish: &str) -> String {
    let mut out = String::with_capacity(96 + sentences * 110);
    out.push_str("[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"");
    for i in 0..sentences {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(pick::<&str>(rng, ANSWERS));
    }
    out.push_str("\"}],\"finish_reason\":\"");
    out.push_str(finish);
    out.push_str("\"}]");
    out
}

/// One tool call requested by the model.
#[derive(Debug, Clone)]
pub(crate) struct ToolCall {
    /// Index into [`TOOLS`].
    pub tool: usize,
    /// The provider's call id.
    pub call_id: String,
    /// Numeric suffix of the argument value.
    pub arg: u32,
}

impl ToolCall {
    /// The tool's name.
    pub fn name(&self) -> &'static str {
        TOOLS.get(self.tool).map_or("unknown_tool", |t| t.0)
    }
}

/// Builds `gen_ai.output.messages` for an answer that calls tools.
pub(crate) fn output_tool_message(calls: &[ToolCall], finish: &str) -> String {
    let mut out = String::with_capacity(96 + calls.len() * 120);
    out.push_str("[{\"role\":\"assistant\",\"parts\":[");
    push_tool_call_parts(&mut out, calls);
    out.push_str("],\"finish_reason\":\"");
    out.push_str(finish);
    out.push_str("\"}]");
    out
}

/// Appends the `tool_call` parts of a message, comma-separated.
fn push_tool_call_parts(out: &mut String, calls: &[ToolCall]) {
    for (i, call) in calls.iter().enumerate() {
        let (name, arg_name, arg_prefix, _) = TOOLS.get(call.tool).copied().unwrap_or_default();
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"type\":\"tool_call\",\"id\":\"");
        out.push_str(&call.call_id);
        out.push_str("\",\"name\":\"");
        out.push_str(name);
        out.push_str("\",\"arguments\":{\"");
        out.push_str(arg_name);
        out.push_str("\":\"");
        out.push_str(arg_prefix);
        push_u32(out, call.arg);
        out.push_str("\"}}");
    }
}

/// Appends a number without going through `fmt`.
pub(crate) fn push_u32(out: &mut String, mut n: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

/// A lowercase hex string of `len` random characters after `prefix`, for tool call ids.
pub(crate) fn hex_id(rng: &mut StdRng, prefix: &str, len: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(prefix.len() + len);
    out.push_str(prefix);
    let mut bits = 0u64;
    for i in 0..len {
        if i % 16 == 0 {
            bits = rng.random();
        }
        out.push(char::from(HEX[(bits & 0xf) as usize]));
        bits >>= 4;
    }
    out
}
