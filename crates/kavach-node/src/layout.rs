//! The layouts the TS layer shares with this crate, each defined once here or next to its
//! encoder and rendered as the TS module src/generated/layout.ts: the fast path's inputs
//! (`fast_in`, below) and numeric outputs (`verdict::fast_out`), the raw verdict array
//! (`verdict::raw`), the verdict kinds (`verdict::kind`), the `evaluateAsync` completion batch
//! (`dispatch::batch`), and the principal-kind, refuse-code and scope-kind tables (the core
//! enums' `ALL`). The test below fails when the committed module differs from this rendering
//! (`npm run check:generated` runs it), and rewrites it with `KAVACH_WRITE_GENERATED=1`.

/// A module of `pub const` positions, plus (in tests) `TABLE`, every constant by name, which
/// [`render`] writes into the TS module: each name and value is spelled once.
/// Constants have the module's type unless one is given (`NAME: u16 = ...`).
macro_rules! layout_consts {
    ($(#[$doc:meta])* pub mod $m:ident: $t:ty {
        $($(#[$cdoc:meta])* $name:ident $(: $ct:ty)? = $v:expr;)*
    }) => {
        $(#[$doc])*
        pub mod $m {
            $($(#[$cdoc])* pub const $name: $crate::layout::layout_consts!(@ty $t $(, $ct)?) = $v;)*

            /// Every constant above by name, for `layout.rs`.
            #[cfg(test)]
            pub const TABLE: &[(&str, u64)] = &[$((stringify!($name), $name as u64)),*];
        }
    };
    (@ty $t:ty) => { $t };
    (@ty $t:ty, $ct:ty) => { $ct };
}
pub(crate) use layout_consts;

layout_consts! {
    /// Positions of the fast path's inputs in a gate's scratch array, written by src/gate.ts
    /// `encode` and read by `context::from_fast`.
    pub mod fast_in: usize {
        /// The principal kind's position in `PrincipalKind::ALL`.
        KIND = 0;
        PARAM_COUNT = 1;
        /// Lengths (UTF-16 code units) of the principal id, the action name and the whole
        /// `text` argument, which holds the id, the action, each role, then each param's name
        /// and string value. A name the gate has interned (`names.rs`) is not in the text: its
        /// slot holds `-1 - index` instead of a length.
        ID_LEN = 2;
        ACTION_LEN = 3;
        TEXT_LEN = 4;
        /// How many roles; their lengths follow, one slot each.
        ROLE_COUNT = 5;
        ROLES = 6;
        /// Contexts with more roles take the general path.
        MAX_ROLES = 8;
        /// Then per param: name length, 0 (number) or 1 (string), the number or the string's
        /// length.
        PARAMS = ROLES + MAX_ROLES;
        STRIDE = 3;
        /// Contexts with more params take the general path.
        MAX_PARAMS = 8;
        /// The scratch array's length. It also holds the outputs (`verdict::fast_out`).
        SCRATCH_LEN = PARAMS + STRIDE * MAX_PARAMS;
        /// At most this many names interned per gate, each at most `MAX_NAME_UNITS` ASCII
        /// characters: what both sides keep stays small whatever the traffic.
        MAX_NAMES = 1024;
        MAX_NAME_UNITS = 64;
    }
}

layout_consts! {
    /// The core's bounds on a context that the TS layer needs before it reads a whole value:
    /// the number of roles (a sparse array may claim 2^32 - 1 of them).
    pub mod context_limits: usize {
        MAX_ROLES = kavach_core::context::limits::MAX_ROLES;
    }
}

layout_consts! {
    /// The audit chain reader's bound on one line of a chain file (`kavach_pq::audit`), which
    /// the CLI's report reader (src/cli/audit-entries.ts) applies too, so that it never counts
    /// as unreadable a line the native reader reads. Only the generated module reads it.
    #[cfg(test)]
    pub mod audit_limits: usize {
        MAX_LINE_BYTES = kavach_pq::audit::MAX_LINE_BYTES;
    }
}

const _: () = assert!(crate::verdict::fast_out::LEN <= fast_in::SCRATCH_LEN);

#[cfg(test)]
mod render {
    use std::fmt::Write as _;

    use kavach_core::verdict::{RefuseCode, ScopeKind};
    use kavach_core::PrincipalKind;

    use super::{audit_limits, context_limits, fast_in};
    use crate::dispatch::batch;
    use crate::verdict::{fast_out, kind, raw};

    /// A `TABLE` of [`layout_consts`]: each constant's name and value.
    type Table = &'static [(&'static str, u64)];

    fn quoted(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| format!("'{n}'")).collect()
    }

    /// `'a' | 'b' | ...`: the TS union type of these names, as napi `ts_type`s spell it.
    pub fn union(names: &[&str]) -> String {
        quoted(names).join(" | ")
    }

    /// The names of `PrincipalKind::ALL`, `RefuseCode::ALL`, `ScopeKind::ALL`.
    pub fn principal_kinds() -> Vec<&'static str> {
        PrincipalKind::ALL.map(PrincipalKind::as_str).to_vec()
    }
    pub fn refuse_codes() -> Vec<&'static str> {
        RefuseCode::ALL.map(RefuseCode::as_str).to_vec()
    }
    pub fn scope_kinds() -> Vec<&'static str> {
        ScopeKind::ALL.map(ScopeKind::as_str).to_vec()
    }

    /// The TS module's text.
    pub fn render() -> String {
        let mut out = String::from(
            "// Generated from crates/kavach-node/src/layout.rs: do not edit. Regenerate with\n\
             // `KAVACH_WRITE_GENERATED=1 cargo test -p kavach-node --lib layout`; `npm run check:generated`\n\
             // checks it is current.\n",
        );
        let o = &mut out;
        let tables: [(&str, &str, Table); 7] = [
            ("Verdict kinds (the `KIND` slot of every encoding; `verdict.rs` `kind`).", "KIND_", kind::TABLE),
            ("Positions of the fast path's inputs in the scratch array (`layout.rs` `fast_in`).", "FAST_IN_", fast_in::TABLE),
            ("The core's bounds on a context (`layout.rs` `context_limits`).", "CONTEXT_", context_limits::TABLE),
            ("The audit chain reader's bound on one line of a chain file (`layout.rs` `audit_limits`).", "AUDIT_", audit_limits::TABLE),
            ("Positions of the fast path's numbers (`verdict.rs` `fast_out`).", "FAST_OUT_", fast_out::TABLE),
            ("Positions in the raw verdict array (`verdict.rs` `raw`).", "RAW_", raw::TABLE),
            (
                "An `evaluateAsync` completion batch entry (`dispatch.rs` `batch`): code-unit offsets in its header, and its special kinds.",
                "BATCH_",
                batch::TABLE,
            ),
        ];
        for (doc, prefix, items) in tables {
            let _ = writeln!(o, "\n/** {doc} */");
            for (name, v) in items {
                let value = if *v > 0xFF {
                    format!("0x{v:x}")
                } else {
                    v.to_string()
                };
                let _ = writeln!(o, "export const {prefix}{name} = {value}");
            }
        }
        let lists = [
            (
                "Principal kinds by number (`FAST_IN_KIND`).",
                "PRINCIPAL_KINDS",
                principal_kinds(),
            ),
            (
                "Refuse codes by number (`FAST_OUT_CODE`).",
                "REFUSE_CODES",
                refuse_codes(),
            ),
            (
                "Scope kinds by number (`FAST_OUT_SCOPE_KIND`).",
                "SCOPE_KINDS",
                scope_kinds(),
            ),
        ];
        for (doc, name, names) in lists {
            let _ = writeln!(o, "\n/** {doc} */");
            let _ = writeln!(
                o,
                "export const {name} = [{}] as const",
                quoted(&names).join(", ")
            );
        }
        let _ = writeln!(
            o,
            "\n/** The audit trail's principal for a caller nobody identified (`kavach_core::UNIDENTIFIED_PRINCIPAL`). */\n\
             export const UNIDENTIFIED_PRINCIPAL = '{}'",
            kavach_core::UNIDENTIFIED_PRINCIPAL
        );
        // A switch on string literals: src/gate.ts `encode` calls it on every evaluation.
        let _ = write!(
            o,
            "\n/** A principal kind's number (`FAST_IN_KIND`), or -1 for anything else. */\n\
             export function principalKindIndex(kind: string): number {{\n  switch (kind) {{\n"
        );
        for (i, k) in principal_kinds().iter().enumerate() {
            let _ = write!(o, "    case '{k}':\n      return {i}\n");
        }
        o.push_str("    default:\n      return -1\n  }\n}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::render::{principal_kinds, refuse_codes, render, scope_kinds, union};

    #[test]
    fn layout_ts_is_current() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../src/generated/layout.ts");
        let want = render();
        if std::env::var("KAVACH_WRITE_GENERATED").as_deref() == Ok("1") {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "src/generated/layout.ts is out of date: run \
             `KAVACH_WRITE_GENERATED=1 cargo test -p kavach-node --lib layout` and commit it"
        );
    }

    /// Every `ts_type = "..."` / `ts_arg_type = "..."` literal in this crate's sources, with
    /// its file.
    fn ts_type_literals() -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for key in ["ts_type = \"", "ts_arg_type = \""] {
                    for (at, _) in text.match_indices(key) {
                        let rest = &text[at + key.len()..];
                        let end = rest.find('"').unwrap();
                        found.push((path.display().to_string(), rest[..end].to_owned()));
                    }
                }
            }
        }
        found
    }

    /// napi needs `ts_type` as a literal string, so the unions of principal kinds, refuse
    /// codes and scope kinds are spelled in the attributes: each literal that names one member
    /// of these enums must be the whole union, in the enum's order, as the core renders it.
    #[test]
    fn ts_type_unions_match_the_core_enums() {
        let sets = [
            ("principal kinds", principal_kinds()),
            ("refuse codes", refuse_codes()),
            ("scope kinds", scope_kinds()),
        ];
        let literals = ts_type_literals();
        let mut checked = [0usize; 3];
        for (file, lit) in &literals {
            for (i, (what, names)) in sets.iter().enumerate() {
                if names.iter().any(|n| lit.contains(&format!("'{n}'"))) {
                    assert_eq!(
                        lit,
                        &union(names),
                        "{file}: a ts_type of {what} differs from the core enum"
                    );
                    checked[i] += 1;
                }
            }
        }
        // The attributes this test guards exist (a renamed key would make it vacuous).
        assert!(
            checked.iter().all(|&n| n > 0),
            "ts_type literals found per set: {checked:?}"
        );
    }
}
