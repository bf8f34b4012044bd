//! The few RESP2 replies the direct connection expects: an array of integers (the rate-limit
//! script's answer), an error, or a status line (the handshake's `+OK`). Anything else is a
//! protocol error, after which the connection is dropped: a reader that skipped a reply it
//! could not parse would hand every later caller someone else's answer.

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ints(Vec<i64>),
    Error(String),
    Status(String),
}

/// Replies longer than this are not ours (the script answers two integers per hit, at most
/// 256 hits per call).
const MAX_ELEMENTS: usize = 4_096;

/// The first complete reply in `buf` and the bytes it took; `Ok(None)` if `buf` holds only
/// part of one.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let Some((first, mut at)) = line(buf, 0)? else {
        return Ok(None);
    };
    let (kind, rest) = first.split_first().ok_or("empty reply line")?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    match kind {
        b'-' => Ok(Some((Reply::Error(text()), at))),
        b'+' => Ok(Some((Reply::Status(text()), at))),
        b'*' => {
            let n = number(rest)?;
            let n = usize::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_ELEMENTS)
                .ok_or_else(|| format!("unexpected array length {n}"))?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let Some((element, next)) = line(buf, at)? else {
                    return Ok(None);
                };
                match element.split_first() {
                    Some((b':', digits)) => out.push(number(digits)?),
                    _ => {
                        return Err(format!(
                            "expected an integer, got '{}'",
                            String::from_utf8_lossy(element)
                        ))
                    }
                }
                at = next;
            }
            Ok(Some((Reply::Ints(out), at)))
        }
        _ => Err(format!(
            "unexpected reply '{}'",
            String::from_utf8_lossy(first)
        )),
    }
}

/// The line starting at `from` (without its CRLF) and where the next one starts.
fn line(buf: &[u8], from: usize) -> Result<Option<(&[u8], usize)>, String> {
    let rest = buf.get(from..).unwrap_or_default();
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(end) => Ok(Some((&rest[..end], from + end + 2))),
        None if rest.len() > 64 * 1024 => Err("reply line too long".into()),
        None => Ok(None),
    }
}

fn number(digits: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad number '{}'", String::from_utf8_lossy(digits)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_the_replies_it_expects() {
        assert_eq!(
            parse(b"*4\r\n:1\r\n:0\r\n:-2\r\n:1500\r\n").unwrap(),
            Some((Reply::Ints(vec![1, 0, -2, 1500]), 24))
        );
        assert_eq!(parse(b"*0\r\n").unwrap(), Some((Reply::Ints(vec![]), 4)));
        assert_eq!(
            parse(b"-NOSCRIPT No matching script.\r\n+OK\r\n").unwrap(),
            Some((Reply::Error("NOSCRIPT No matching script.".into()), 31))
        );
        assert_eq!(
            parse(b"+OK\r\n").unwrap(),
            Some((Reply::Status("OK".into()), 5))
        );
    }

    #[test]
    fn waits_for_the_rest_of_a_reply_cut_anywhere() {
        let whole = b"*2\r\n:17\r\n:250\r\n";
        for cut in 0..whole.len() {
            assert_eq!(parse(&whole[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(parse(whole).unwrap().is_some());
    }

    #[test]
    fn anything_else_is_a_protocol_error() {
        for bad in [
            &b"$3\r\nabc\r\n"[..],
            b"*1\r\n$1\r\nx\r\n",
            b"*-1\r\n",
            b"*1\r\n:x\r\n",
            b":5\r\n",
            b"*99999\r\n",
            b"\r\n",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
