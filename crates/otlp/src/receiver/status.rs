//! `google.rpc.Status`, the body of every OTLP/HTTP error response.
//!
//! Neither `opentelemetry-proto` nor tonic exports it as a prost message, so it is declared
//! here. `details` (field 3) is left out: OTLP makes it optional, and a decoder skips it as an
//! unknown field.

/// `google.rpc.Status` without `details`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code` (the gRPC status code). OTLP/HTTP clients only log it.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What was wrong, for the developer reading the client's logs.
    #[prost(string, tag = "2")]
    pub message: String,
}
