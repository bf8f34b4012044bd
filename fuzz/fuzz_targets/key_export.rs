//! Secret key exports (`KavachKeyPair.importSecret`). Selector byte:
//! 0: the rest as an export, imported without a passphrase;
//! 1: the rest as an export, imported with a passphrase under the smallest scrypt limits (so
//!    one input costs at most one cheap key derivation);
//! other: the rest as the body of an unencrypted export, wrapped in a genuine header and
//!    checksum so the fuzzer reaches the body decoder behind the checksum.
#![no_main]

use std::sync::OnceLock;

use kavach_fuzz::{signer, split_selector};
use kavach_pq::secret_export::{
    export_secret, import_secret, import_secret_with_limits, ScryptLimits,
};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

/// Magic, version and mode bytes of an unencrypted export, taken from a real one.
fn plain_header() -> &'static [u8] {
    static H: OnceLock<Vec<u8>> = OnceLock::new();
    H.get_or_init(|| {
        let blob = export_secret(&signer(), None).unwrap_or_else(|e| panic!("export: {e}"));
        blob[..6].to_vec()
    })
}

const CHEAP: ScryptLimits = ScryptLimits {
    max_log_n: 10,
    max_r: 1,
    max_p: 1,
};

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = split_selector(data) else {
        return;
    };
    match selector {
        0 => {
            let _ = import_secret(rest, None);
        }
        1 => {
            let _ = import_secret_with_limits(rest, Some("fuzz passphrase"), CHEAP);
        }
        _ => {
            let mut blob = plain_header().to_vec();
            blob.extend_from_slice(rest);
            let sum = Sha256::digest(&blob);
            blob.extend_from_slice(&sum);
            if let Ok(kp) = import_secret(&blob, None) {
                // What imports must export again and import to the same identity.
                let again = export_secret(&kp, None).and_then(|b| import_secret(&b, None));
                let again = again.unwrap_or_else(|e| panic!("re-import failed: {e}"));
                assert_eq!(again.public_bundle(), kp.public_bundle());
            }
        }
    }
});
