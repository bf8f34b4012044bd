//! Directory manifests (`PublicKeyDirectory.fromFile` / `fromSignedFile`): the input is written
//! to a file and loaded as an unsigned manifest, then as a manifest signed by the interop root.
//! Only the loaders take a path, so the bytes go through a file in the temp directory.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use kavach_fuzz::root_vk;
use kavach_pq::PublicKeyDirectory;
use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("kavach-fuzz-manifest-{}.json", std::process::id()))
    })
}

fn root() -> &'static [u8] {
    static R: OnceLock<Vec<u8>> = OnceLock::new();
    R.get_or_init(root_vk)
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    if std::fs::write(path, data).is_err() {
        return;
    }
    if let Ok(dir) = PublicKeyDirectory::from_file(path) {
        let _ = dir.key_ids();
    }
    if let Ok(dir) = PublicKeyDirectory::from_signed_file(path, root()) {
        let _ = dir.key_ids();
    }
});
