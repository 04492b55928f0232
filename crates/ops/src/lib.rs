//! Service plumbing shared by swarmcord's binaries.
//!
//! - [`config`]: configuration from environment variables declared with `clap` (the reference
//!   `docs/CONFIGURATION.md` is generated from the declarations), Docker secrets through
//!   `NAME_FILE`, errors that name the bad variable;
//! - [`Secret`]: a string that never prints (its `Debug` and `Display` are redacted);
//! - [`telemetry`]: structured `tracing` logs (JSON or text) and the Prometheus recorder;
//! - [`http`]: `/healthz`, `/readyz` and `/metrics`;
//! - [`shutdown`]: SIGTERM/SIGINT as a cancellation token.

pub mod config;
pub mod http;
pub mod shutdown;
pub mod telemetry;

pub use swarmcord_secret::{Secret, redact_url};
