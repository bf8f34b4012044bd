//! The time zone names the policy loader accepts, rendered as the TS module
//! src/generated/time-zones.ts for the zod schema (src/schema.ts), which must refuse the zones
//! the loader refuses without loading the addon. The test below compares the module with the
//! loader's list (`npm run check:generated` runs it) and rewrites it with
//! `KAVACH_WRITE_GENERATED=1`.

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    fn render() -> String {
        let mut names: Vec<&str> = kavach_core::policy::time_window::zone_names().collect();
        names.sort_unstable();
        let mut out = String::from(
            "// Generated from crates/kavach-node/src/time_zones.rs: do not edit. Regenerate with\n\
             // `KAVACH_WRITE_GENERATED=1 cargo test -p kavach-node --lib time_zones`; `npm run\n\
             // check:generated` checks it is current.\n\n\
             /** Every time zone a policy's `time_window` may name (case-exact, as the loader reads them). */\n\
             export const TIME_ZONES: ReadonlySet<string> = new Set([\n",
        );
        for name in names {
            // Zone names are ASCII letters, digits, `/`, `_`, `-` and `+`: safe in quotes.
            assert!(!name.contains(['\'', '\\']), "{name}");
            out.push_str(&format!("  '{name}',\n"));
        }
        out.push_str("])\n");
        out
    }

    #[test]
    fn time_zones_ts_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../src/generated/time-zones.ts");
        let want = render();
        if std::env::var("KAVACH_WRITE_GENERATED").as_deref() == Ok("1") {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "src/generated/time-zones.ts is out of date: run \
             `KAVACH_WRITE_GENERATED=1 cargo test -p kavach-node --lib time_zones` and commit it"
        );
    }
}
