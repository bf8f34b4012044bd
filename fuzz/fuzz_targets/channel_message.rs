//! Sealed channel messages (`SecureChannel.receive`, `receiveData`). Selector byte:
//! even: the rest is a sealed message as it arrives from the network;
//! odd: the rest is the plaintext inside a genuine seal (sealed here to the recipient), so the
//! fuzzer reaches the signed-message parser and checks behind the KEM and AEAD layers.
//! Both ends run on a pinned clock so signed seeds stay inside the replay window.
#![no_main]

use std::sync::OnceLock;

use kavach_fuzz::{channel_pair, split_selector, CHANNEL_CLOCK_SECS};
use kavach_pq::channel::SecureChannel;
use kavach_pq::chrono::DateTime;
use libfuzzer_sys::fuzz_target;

fn pair() -> &'static (SecureChannel, SecureChannel) {
    static P: OnceLock<(SecureChannel, SecureChannel)> = OnceLock::new();
    P.get_or_init(|| {
        let (sender, receiver) = channel_pair();
        let at = DateTime::from_timestamp(CHANNEL_CLOCK_SECS, 0);
        sender.set_clock_for_testing(at);
        receiver.set_clock_for_testing(at);
        (sender, receiver)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = split_selector(data) else {
        return;
    };
    let (sender, receiver) = pair();
    // `receive_signed` opens the seal first (what `receive_data` does) and then parses and
    // checks the signed message, so one call covers both layers at half the cost.
    if selector % 2 == 0 {
        let _ = receiver.receive_signed(rest, "ctx");
    } else if let Ok(sealed) = sender.send_data(rest) {
        let _ = receiver.receive_signed(&sealed, "ctx");
    }
});
