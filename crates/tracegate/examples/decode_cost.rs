//! What OTLP decoding costs inside the gateway compared with the `loadgen --decode-only`
//! reference, split into its two suspects (issue 11): the reading path and the memory
//! system.
//!
//! - **reading path**: the reference decodes from a `&[u8]`; tonic hands prost a
//!   `DecodeBuf` over a `BytesMut` (reproduced here: the request copied into a `BytesMut`,
//!   then read through a length-limited `Buf`, as tonic does);
//! - **memory**: the reference drops each request as soon as it is decoded, so the allocator
//!   hands back warm memory; the gateway holds decoded spans for seconds (trace assembly's
//!   `idle_after_root`), so each request's strings land in memory that is cold or freshly
//!   faulted in. Here "hold" keeps the last 300 requests (about 150K rag spans) alive.
//!
//! ```text
//! cargo run --release -p tracegate --example decode_cost
//! taskset -c 0 target/release/examples/decode_cost      # pinned, as make bench pins
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Buf, BytesMut};
use prost::Message;
use std::collections::VecDeque;
use std::time::Instant;
use tracegate_model::proto::collector::trace::v1::ExportTraceServiceRequest;
use tracegate_testkit::{Generator, GeneratorConfig, Profile};

/// The gateway's allocator, so the figures are the gateway's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Rag spans generated, in requests of 50 traces.
const SPANS: usize = 200_000;
/// Passes over the requests per mode.
const ROUNDS: usize = 5;
/// Requests held in the "hold" modes.
const HELD: usize = 300;

/// A `BytesMut` read up to `len` bytes, as tonic's `DecodeBuf` reads a message.
struct Limited<'a> {
    buf: &'a mut BytesMut,
    len: usize,
}

impl Buf for Limited<'_> {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        let n = self.len.min(self.buf.len());
        &self.buf[..n]
    }

    fn advance(&mut self, cnt: usize) {
        self.buf.advance(cnt);
        self.len -= cnt;
    }
}

fn main() {
    let mut generator = Generator::new(GeneratorConfig {
        profile: Profile::Rag,
        ..Default::default()
    });
    let mut requests = Vec::new();
    let mut spans = 0usize;
    while spans < SPANS {
        let request = generator.request_with_traces(50);
        spans += request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum::<usize>();
        requests.push(request.encode_to_vec());
    }
    let spans_per_request = spans as f64 / requests.len() as f64;
    println!(
        "{spans} rag spans in {} requests, {ROUNDS} passes per mode",
        requests.len()
    );
    for (name, via_buf, hold) in [
        ("from a slice, dropped (the reference)", false, 0),
        ("through a DecodeBuf, dropped", true, 0),
        ("from a slice, held", false, HELD),
        ("through a DecodeBuf, held (the gateway)", true, HELD),
    ] {
        let mut held: VecDeque<ExportTraceServiceRequest> = VecDeque::with_capacity(hold + 1);
        let started = Instant::now();
        let mut decoded = 0usize;
        for _ in 0..ROUNDS {
            for bytes in &requests {
                let request = if via_buf {
                    let mut buf = BytesMut::from(&bytes[..]);
                    let len = buf.len();
                    ExportTraceServiceRequest::decode(Limited { buf: &mut buf, len })
                } else {
                    ExportTraceServiceRequest::decode(bytes.as_slice())
                }
                .expect("the generator's requests decode");
                decoded += 1;
                if hold > 0 {
                    held.push_back(request);
                    if held.len() > hold {
                        held.pop_front();
                    }
                }
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let spans = decoded as f64 * spans_per_request;
        println!(
            "{name:<42} {:>9.0} spans/s  {:.2} µs/span",
            spans / seconds,
            seconds * 1e6 / spans
        );
    }
}
