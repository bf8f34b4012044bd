//! Writes the generated seeds for the targets that have no fixture file in the repository
//! (channel messages and key exports) into fuzz/seeds/<target>/. Run by hand when a format
//! changes (from the repository root; it links only in a sanitizer build, as the targets do):
//! `cargo +nightly fuzz build --fuzz-dir fuzz --features seeds make_seeds`, then
//! `fuzz/target/x86_64-unknown-linux-gnu/release/make_seeds`. Channel messages are signed at
//! [`kavach_fuzz::CHANNEL_CLOCK_SECS`], the clock the channel target's receiver is pinned to.

use std::path::Path;

use kavach_fuzz::{channel_pair, signer, CHANNEL_CLOCK_SECS};
use kavach_pq::chrono::DateTime;
use kavach_pq::secret_export::{export_secret, export_secret_with_cost, ScryptCost};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    println!("{} ({} bytes)", path.display(), bytes.len());
}

fn with_selector(selector: u8, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![selector];
    v.extend_from_slice(rest);
    v
}

fn main() {
    let (sender, receiver) = channel_pair();
    let at = DateTime::from_timestamp(CHANNEL_CLOCK_SECS, 0);
    sender.set_clock_for_testing(at);
    receiver.set_clock_for_testing(at);
    let ok = |r: kavach_pq::Result<Vec<u8>>| r.unwrap_or_else(|e| panic!("seed: {e}"));

    let signed = ok(sender.send_signed(b"{\"amount\":42}", "ctx", "corr-1"));
    let data = ok(sender.send_data(b"hello"));
    write(
        "channel_message",
        "sealed-signed",
        &with_selector(0, &signed),
    );
    write("channel_message", "sealed-data", &with_selector(0, &data));
    // The plaintext of a signed message: the odd selector seals it again for the receiver.
    let inner = ok(receiver.receive_data(&signed));
    write("channel_message", "plain-signed", &with_selector(1, &inner));

    let kp = signer();
    let plain = ok(export_secret(&kp, None));
    write("key_export", "plain", &with_selector(0, &plain));
    let cheap = ScryptCost {
        log_n: 10,
        r: 1,
        p: 1,
    };
    let sealed = ok(export_secret_with_cost(&kp, Some("fuzz passphrase"), cheap));
    write("key_export", "encrypted", &with_selector(1, &sealed));
    // The body alone (header and checksum stripped): the wrapped variant rebuilds both.
    let body = &plain[6..plain.len() - 32];
    write("key_export", "body", &with_selector(2, body));
}
