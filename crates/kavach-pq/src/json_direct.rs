//! Direct reader and writer for the JSON layout every implementation writes (compact, fields
//! in FORMATS.md order), used by the permit envelope and the audit chain line.
//!
//! Why: through serde, a 3309-byte ML-DSA signature as a JSON integer array costs ~28 µs to
//! parse (serde_json scans the array to validate it, then the bytes are decoded) and ~14 µs to
//! write (one serializer call per integer), a third of a PQ-only verify. Here both are one
//! pass over the text with a lookup table.
//!
//! The reader is a fast path only: it accepts a strict subset of what the serde types accept
//! (fields in FORMATS.md order, strings without escapes, integers without leading zeros) and
//! returns `None` on anything else, and the caller then parses with serde as before. So what
//! is accepted, the values it yields and every error message are exactly serde's. The writer
//! produces the bytes serde_json writes (strings are escaped by serde_json itself); tests in
//! this module and the golden files check both against serde.

use chrono::{DateTime, Utc};

use crate::sizes::ML_DSA_SIG_LEN;

/// `"<decimal digits>,"` of every byte value, left-aligned in 4 bytes, and its length with
/// the comma: the writer copies all 4 bytes (one fixed-size store) and advances by the length.
const DIGITS: [([u8; 4], usize); 256] = {
    let mut t = [([0u8; 4], 0usize); 256];
    let mut v = 0usize;
    while v < 256 {
        let d = [
            b'0' + (v / 100) as u8,
            b'0' + (v / 10 % 10) as u8,
            b'0' + (v % 10) as u8,
        ];
        t[v] = if v >= 100 {
            ([d[0], d[1], d[2], b','], 4)
        } else if v >= 10 {
            ([d[1], d[2], b',', 0], 3)
        } else {
            ([d[2], b',', 0, 0], 2)
        };
        v += 1;
    }
    t
};

/// Append `bytes` as a JSON array of integers (`[1,2,3]`, serde_json's compact form).
pub fn write_byte_array(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    // "[" + at most 4 bytes per element + 3 bytes of slack for the last 4-byte store + "]".
    out.resize(start + 1 + bytes.len() * 4 + 4, 0);
    let buf = &mut out[start..];
    buf[0] = b'[';
    let mut pos = 1;
    for b in bytes {
        let (text, n) = &DIGITS[usize::from(*b)];
        buf[pos..pos + 4].copy_from_slice(text);
        pos += n;
    }
    // Overwrite the last element's comma (or, for `[]`, the byte after `[`).
    let end = if bytes.is_empty() { 1 } else { pos - 1 };
    buf[end] = b']';
    out.truncate(start + end + 1);
}

/// Append `s` as a JSON string, escaped exactly as serde_json escapes it.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Append `"key":` (keys are fixed ASCII names that need no escaping).
pub fn write_key(out: &mut Vec<u8>, key: &str, first: bool) {
    if !first {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Strict single-pass reader over one JSON text; every method returns `None` where the text
/// leaves the fast path (the caller falls back to serde).
pub struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    /// Start at the first byte.
    pub fn new(b: &'a [u8]) -> Self {
        Self { b, i: 0 }
    }

    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// The literal `lit` (after optional leading whitespace).
    pub fn lit(&mut self, lit: &[u8]) -> Option<()> {
        self.ws();
        let end = self.i.checked_add(lit.len())?;
        (self.b.get(self.i..end)? == lit).then(|| self.i = end)
    }

    /// `"key":` at the current position (after a `{` or a `,` the caller consumed).
    pub fn key(&mut self, key: &str) -> Option<()> {
        self.ws();
        self.string()
            .filter(|k| *k == key)
            .and_then(|_| self.lit(b":"))
    }

    /// `,"key":` (the next field of an object, in the fixed order).
    pub fn next_key(&mut self, key: &str) -> Option<()> {
        self.lit(b",")?;
        self.key(key)
    }

    /// True (and consumed) when the next token is `null`.
    pub fn null(&mut self) -> bool {
        self.lit(b"null").is_some()
    }

    /// True when the next token is `c` (not consumed).
    pub fn peek_is(&mut self, c: u8) -> bool {
        self.ws();
        self.b.get(self.i) == Some(&c)
    }

    /// A string without escapes or control characters, valid UTF-8.
    pub fn string(&mut self) -> Option<&'a str> {
        self.ws();
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        let start = self.i + 1;
        let len = self.b.get(start..)?.iter().position(|c| *c == b'"')?;
        let raw = &self.b[start..start + len];
        if raw.iter().any(|c| *c == b'\\' || *c < 0x20) {
            return None;
        }
        self.i = start + len + 1;
        std::str::from_utf8(raw).ok()
    }

    /// An unsigned integer without sign, fraction, exponent or leading zeros, fitting u64.
    pub fn u64(&mut self) -> Option<u64> {
        self.ws();
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(d) = self.b.get(self.i).filter(|c| c.is_ascii_digit()) {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        let leading_zero = digits > 1 && self.b[start] == b'0';
        let ends = matches!(
            self.b.get(self.i),
            Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
        );
        (digits > 0 && !leading_zero && ends).then_some(v)
    }

    /// A compact JSON array of integers 0-255 (`[]` allowed, no whitespace inside), decoded
    /// in the same pass.
    pub fn byte_array(&mut self) -> Option<Vec<u8>> {
        self.lit(b"[")?;
        let b = self.b;
        let mut i = self.i;
        if b.get(i) == Some(&b']') {
            self.i = i + 1;
            return Some(Vec::new());
        }
        // Each element takes at least two bytes of text (a digit and a separator); the cap
        // (an ML-DSA-65 signature) keeps a short array early in a long line from reserving
        // the rest of the line.
        let mut out = Vec::with_capacity((b.len().saturating_sub(i) / 2).min(ML_DSA_SIG_LEN));
        loop {
            let d0 = b.get(i)?.wrapping_sub(b'0');
            if d0 > 9 {
                return None;
            }
            let mut v = u32::from(d0);
            i += 1;
            let mut c = *b.get(i)?;
            // A leading 0 takes no more digits: `01` then fails at the separator check.
            if d0 != 0 {
                for _ in 0..2 {
                    let d = c.wrapping_sub(b'0');
                    if d > 9 {
                        break;
                    }
                    v = v * 10 + u32::from(d);
                    i += 1;
                    c = *b.get(i)?;
                }
            }
            out.push(u8::try_from(v).ok()?);
            i += 1;
            match c {
                b',' => {}
                b']' => {
                    self.i = i;
                    if out.capacity() > out.len() * 2 {
                        out.shrink_to_fit();
                    }
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    /// An RFC 3339 timestamp string, parsed as the serde helpers parse it.
    pub fn timestamp(&mut self) -> Option<DateTime<Utc>> {
        crate::json_bytes::parse_rfc3339(self.string()?).ok()
    }

    /// The closing `}` of the top-level object, then only whitespace to the end.
    pub fn end_object(&mut self) -> Option<()> {
        self.lit(b"}")?;
        self.ws();
        (self.i == self.b.len()).then_some(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn byte_arrays_are_written_as_serde_writes_them() {
        let all: Vec<u8> = (0..=255).chain((0..=255).rev()).collect();
        for case in [&[][..], &[0][..], &[255, 0, 10, 99, 100][..], &all[..]] {
            let mut out = Vec::new();
            write_byte_array(&mut out, case);
            assert_eq!(out, serde_json::to_vec(case).unwrap());
            assert_eq!(Reader::new(&out).byte_array().unwrap(), case);
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_escapes_them() {
        for s in ["", "kavach-key-1", "quote\" back\\ nl\n tab\t \u{1} é ∑ 😀"] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap());
        }
    }

    #[test]
    fn the_reader_leaves_the_fast_path_on_anything_unusual() {
        for bad in [
            "[01]", "[00]", "[0", "[1", "[256]", "[1000]", "[-1]", "[1.0]", "[1e2]", "[1,]",
            "[,1]", "[1 2]",
        ] {
            assert!(Reader::new(bad.as_bytes()).byte_array().is_none(), "{bad}");
        }
        for bad in [r#""a\"b""#, "\"a\u{1}\"", r#""unterminated"#] {
            assert!(Reader::new(bad.as_bytes()).string().is_none(), "{bad}");
        }
        for bad in ["01,", "-1,", "1.5,", "1e3,", "18446744073709551616,", ","] {
            assert!(Reader::new(bad.as_bytes()).u64().is_none(), "{bad}");
        }
        assert!(Reader::new(b"[ 1 , 2 ]").byte_array().is_none());
        assert_eq!(
            Reader::new(b" [1,2,255]").byte_array().unwrap(),
            vec![1, 2, 255]
        );
        assert_eq!(Reader::new(b"[0,0]").byte_array().unwrap(), vec![0, 0]);
        assert_eq!(Reader::new(b"18446744073709551615}").u64(), Some(u64::MAX));
    }
}
