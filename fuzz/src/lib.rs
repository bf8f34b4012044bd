//! Fixed keys and fixtures shared by the fuzz targets: the interop signer (its seeds are
//! documented in crates/kavach-pq/tests/data/interop/README.md), a second seeded identity to
//! receive channel messages, and the interop token. Everything is deterministic so a crash
//! input reproduces the same way in the regression tests.

use std::sync::{Arc, OnceLock};

use kavach_pq::channel::{ChannelOptions, SecureChannel};
use kavach_pq::chrono::{TimeZone, Utc};
use kavach_pq::{KavachKeyPair, PublicKeyBundle, TokenFields};

pub const SIGNER_ID: &str = "kavach-key-00000000-0000-4000-8000-000000000001";
pub const RECIPIENT_ID: &str = "kavach-key-00000000-0000-4000-8000-000000000002";

const ROOT_VK_HEX: &str =
    include_str!("../../crates/kavach-pq/tests/data/interop/root-ml-dsa-verifying-key.hex");
const TOKEN_JSON: &str = include_str!("../../crates/kavach-pq/tests/data/interop/token.json");

fn seeded(id: &str, base: u8) -> KavachKeyPair {
    let created = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    KavachKeyPair::from_seeds(
        id,
        [base; 32],
        [base + 1; 32],
        [base + 2; 64],
        [base + 3; 32],
        created,
        None,
    )
    .unwrap_or_else(|e| panic!("seeded key pair {id}: {e}"))
}

/// The interop signer: signs the fixtures in tests/data/interop.
pub fn signer() -> Arc<KavachKeyPair> {
    static KP: OnceLock<Arc<KavachKeyPair>> = OnceLock::new();
    KP.get_or_init(|| Arc::new(seeded(SIGNER_ID, 0x10))).clone()
}

/// A second identity, the receiving end of the channel target.
pub fn recipient() -> Arc<KavachKeyPair> {
    static KP: OnceLock<Arc<KavachKeyPair>> = OnceLock::new();
    KP.get_or_init(|| Arc::new(seeded(RECIPIENT_ID, 0x30)))
        .clone()
}

pub fn signer_bundle() -> PublicKeyBundle {
    signer().public_bundle()
}

/// The root ML-DSA-65 verifying key that signs manifest-signed.json.
pub fn root_vk() -> Vec<u8> {
    hex::decode(ROOT_VK_HEX.trim()).unwrap_or_else(|e| panic!("root key hex: {e}"))
}

/// The token of token.json, which envelope-hybrid.json and envelope-pq-only.json sign.
pub fn interop_token() -> TokenFields {
    let v: serde_json::Value =
        serde_json::from_str(TOKEN_JSON).unwrap_or_else(|e| panic!("token.json: {e}"));
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let n = |k: &str| v[k].as_i64().unwrap_or_default();
    TokenFields::parse(
        &s("tokenId"),
        &s("evaluationId"),
        n("issuedAt"),
        n("expiresAt"),
        s("actionName"),
    )
    .unwrap_or_else(|e| panic!("token.json fields: {e}"))
}

/// The instant channel seeds are signed at and the channel target's receiver is pinned to, so
/// the seeds stay inside the replay window (2026-06-01T00:00:00Z).
pub const CHANNEL_CLOCK_SECS: i64 = 1_780_272_000;

/// A channel from the signer to the recipient and the recipient's channel back (v1 accepted,
/// so both message versions are parsed).
pub fn channel_pair() -> (SecureChannel, SecureChannel) {
    let opts = ChannelOptions {
        accept_v1: true,
        ..ChannelOptions::default()
    };
    let sender = SecureChannel::new(signer(), recipient().public_bundle(), opts.clone())
        .unwrap_or_else(|e| panic!("sender channel: {e}"));
    let receiver = SecureChannel::new(recipient(), signer().public_bundle(), opts)
        .unwrap_or_else(|e| panic!("receiver channel: {e}"));
    (sender, receiver)
}

/// The first byte of an input picks a variant of a target; the rest is the data.
pub fn split_selector(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(s, rest)| (*s, rest))
}
