//! `application/x-www-form-urlencoded` decoding that keeps bytes exact.
//!
//! `form_urlencoded` decodes to UTF-8 lossily, so two different binary
//! contents could be signed as the same string; HMAC input must be the
//! bytes the client encoded, as Go's `ParseQuery` gives them to rkt.

/// The first value of `field` in `query`; `Err` on a malformed escape.
pub(crate) fn field(query: &[u8], field: &str) -> Result<Option<Vec<u8>>, String> {
    for pair in query.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        if decode(k)? == field.as_bytes() {
            return decode(v).map(Some);
        }
    }
    Ok(None)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-decodes `s`; with `plus`, `+` is a space (form encoding).
fn decode_with(s: &[u8], plus: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let pair = s
                    .get(i + 1..i + 3)
                    .and_then(|p| Some((hex(p[0])?, hex(p[1])?)));
                let Some((hi, lo)) = pair else {
                    return Err("invalid %-escape in form data".into());
                };
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

fn decode(s: &[u8]) -> Result<Vec<u8>, String> {
    decode_with(s, true)
}

/// Percent-decodes a URL path segment (`+` stays a plus).
pub(crate) fn decode_path(s: &str) -> Option<String> {
    decode_with(s.as_bytes(), false)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let q = b"a=1&content=x%00%FF+y%2B&content=second&empty";
        assert_eq!(field(q, "content").unwrap().unwrap(), b"x\0\xff y+");
        assert_eq!(field(q, "a").unwrap().unwrap(), b"1");
        assert_eq!(field(q, "empty").unwrap().unwrap(), b"");
        assert_eq!(field(q, "missing").unwrap(), None);
        assert!(field(b"content=%g0", "content").is_err());
        assert!(field(b"content=%4", "content").is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(
            decode_path("example.com%2Ffoo+bar").unwrap(),
            "example.com/foo+bar"
        );
        assert_eq!(decode_path("%zz"), None);
    }
}
