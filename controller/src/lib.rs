//! kage-controller: the in-cluster half of kage. It holds the sealing keys and turns every
//! SealedSecret into the Secret of the same name, in the same namespace.
//!
//! [`args`] parses the command line, [`start`] starts the endpoints and the leader election,
//! [`leading`] is the leader's work ([`reconcile`] of what the [`store`] holds and the
//! [`queue`] hands out, [`rotation`], [`public_keys`]),
//! [`key_watch`] keeps every replica's [`sealing_keys`] fresh, [`key_policy`] checks that the
//! API server guards them, and [`state`] is what they share.

pub mod api_call;
pub mod args;
pub mod audit;
pub mod http;
pub mod ids;
pub mod key_policy;
pub mod key_watch;
pub mod kms;
pub mod leader;
pub mod leading;
pub mod metrics;
pub mod metrics_auth;
pub mod owned;
pub mod policy;
pub mod public_keys;
pub mod queue;
pub mod reconcile;
pub mod rotation;
pub mod sealing_keys;
pub mod start;
pub mod state;
pub mod store;
