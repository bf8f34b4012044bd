//! The channel's replay cache is bounded (`maxTrackedNonces`): at the bound a new message is
//! refused with an error naming the bound, and space frees as the window passes
//! (docs/SECURITY.md, "Resource bounds").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use kavach_pq::channel::{ChannelOptions, SecureChannel};
use kavach_pq::KavachKeyPair;

#[test]
fn the_replay_cache_refuses_past_its_bound_naming_it() {
    let (a, b) = (
        Arc::new(KavachKeyPair::generate().unwrap()),
        Arc::new(KavachKeyPair::generate().unwrap()),
    );
    let opts = ChannelOptions {
        max_tracked_nonces: 3,
        ..ChannelOptions::default()
    };
    let ab = SecureChannel::new(a.clone(), b.public_bundle(), ChannelOptions::default()).unwrap();
    let ba = SecureChannel::new(b.clone(), a.public_bundle(), opts).unwrap();
    for i in 0..3 {
        let m = ab.send_signed(b"x", "ctx", &format!("c{i}")).unwrap();
        ba.receive_signed(&m, "ctx").unwrap();
    }
    assert_eq!(ba.tracked_nonces(), 3);
    let m = ab.send_signed(b"x", "ctx", "c3").unwrap();
    let e = ba.receive_signed(&m, "ctx").unwrap_err();
    assert_eq!(e.code(), "REPLAY");
    assert!(
        e.to_string()
            .contains("replay cache is full (3 nonces within the window)"),
        "{e}"
    );
    assert_eq!(ba.tracked_nonces(), 3);
}
