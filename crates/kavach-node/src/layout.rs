//! The layouts the TS layer reads (the fast path's numbers, the raw verdict array, the
//! `evaluateAsync` completion batch, the refuse-code and scope-kind tables), rendered as the
//! TS module src/generated/layout.ts. They are defined once, in `verdict.rs` and
//! `dispatch.rs`; the test below fails when the committed module differs from this rendering
//! (`npm run check:generated` runs it), and rewrites it with `KAVACH_WRITE_GENERATED=1`.

use crate::dispatch::batch;
use crate::verdict::{fast_out, raw, REFUSE_CODES, SCOPE_KINDS};

/// The TS module's text.
pub fn render() -> String {
    let mut out = String::from(
        "// Generated from crates/kavach-node/src/layout.rs: do not edit. Regenerate with\n\
         // `KAVACH_WRITE_GENERATED=1 cargo test -p kavach-node --lib layout`; `npm run check:generated`\n\
         // checks it is current.\n",
    );
    let mut group = |doc: &str, prefix: &str, items: &[(&str, u64)]| {
        out.push_str(&format!("\n/** {doc} */\n"));
        for (name, v) in items {
            let value = if *v > 0xFF {
                format!("0x{v:x}")
            } else {
                v.to_string()
            };
            out.push_str(&format!("export const {prefix}{name} = {value}\n"));
        }
    };
    group(
        "Verdict kinds (the `KIND` slot of every encoding).",
        "KIND_",
        &[("PERMIT", 0), ("REFUSE", 1), ("INVALIDATE", 2)],
    );
    group(
        "Positions of the fast path's numbers (`verdict.rs` `fast_out`).",
        "FAST_OUT_",
        &[
            ("KIND", fast_out::KIND as u64),
            ("ISSUED_AT", fast_out::ISSUED_AT as u64),
            ("EXPIRES_AT", fast_out::EXPIRES_AT as u64),
            ("OBSERVE_ONLY", fast_out::OBSERVE_ONLY as u64),
            ("CODE", fast_out::CODE as u64),
            ("EVALUATOR_LEN", fast_out::EVALUATOR_LEN as u64),
            ("REASON_LEN", fast_out::REASON_LEN as u64),
            ("SCOPE_KIND", fast_out::SCOPE_KIND as u64),
        ],
    );
    group(
        "Positions in the raw verdict array (`verdict.rs` `raw`).",
        "RAW_",
        &[
            ("KIND", raw::KIND.into()),
            ("EVALUATION_ID", raw::EVALUATION_ID.into()),
            ("CODE", raw::CODE.into()),
            ("EVALUATOR", raw::EVALUATOR.into()),
            ("REASON", raw::REASON.into()),
            ("TOKEN_ID", raw::TOKEN_ID.into()),
            ("TOKEN_EVALUATION_ID", raw::TOKEN_EVALUATION_ID.into()),
            ("ISSUED_AT", raw::ISSUED_AT.into()),
            ("EXPIRES_AT", raw::EXPIRES_AT.into()),
            ("ACTION_NAME", raw::ACTION_NAME.into()),
            ("SIGNATURE", raw::SIGNATURE.into()),
            ("OBSERVE_ONLY", raw::OBSERVE_ONLY.into()),
            ("SCOPE_KIND", raw::SCOPE_KIND.into()),
            ("SCOPE_TARGET", raw::SCOPE_TARGET.into()),
            ("OBSERVED", raw::OBSERVED.into()),
        ],
    );
    group(
        "An `evaluateAsync` completion batch entry (`dispatch.rs` `batch`): code-unit offsets in its header, and its special kinds.",
        "BATCH_",
        &[
            ("ID", batch::ID as u64),
            ("KIND", batch::KIND as u64),
            ("SLOTS", batch::SLOTS as u64),
            ("SLOT_UNITS", batch::SLOT_UNITS as u64),
            ("TEXT_LEN", batch::TEXT_LEN as u64),
            ("HEADER", batch::HEADER as u64),
            ("RAW", batch::RAW.into()),
            ("FAILED", batch::FAILED.into()),
        ],
    );
    let list = |names: Vec<&str>| {
        names
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!(
        "\n/** Refuse codes by number (`fast_out` `CODE`). */\nexport const REFUSE_CODES = [{}] as const\n",
        list(REFUSE_CODES.iter().map(|c| c.as_str()).collect())
    ));
    out.push_str(&format!(
        "\n/** Scope kinds by number (`fast_out` `SCOPE_KIND`). */\nexport const SCOPE_KINDS = [{}] as const\n",
        list(SCOPE_KINDS.iter().map(|k| k.as_str()).collect())
    ));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

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
}
