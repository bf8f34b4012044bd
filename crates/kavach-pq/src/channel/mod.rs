//! Secure channel (FORMATS.md "Secure channel", with the v2 tightening documented in
//! [`secure`]).

pub mod primitives;
pub mod replay;
pub mod sealed;
pub mod secure;

pub use sealed::{ChannelMessage, SealedPayload};
pub use secure::{ChannelOptions, SecureChannel, DEFAULT_MAX_MESSAGE_BYTES};
