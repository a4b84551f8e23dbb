//! The request head: the parsed request line and the headers the front acts on, the search for
//! its end in the connection's buffer, and the reason phrases of the statuses it answers with.
//! Pure functions of bytes, kept apart from the connection's I/O so that parsing can be read
//! and fuzzed without it.

/// Why a connection stops being served.
pub(super) enum Stop {
    /// Closed without an answer: the client left, or idled out between
    /// requests, or the service is stopping.
    Quiet,
    /// Answered with this status, then closed.
    Answer(u16, &'static str),
}

impl From<std::io::Error> for Stop {
    fn from(_: std::io::Error) -> Self {
        Stop::Quiet
    }
}

/// A parsed request head.
pub(super) struct Head {
    pub(super) method: String,
    pub(super) target: String,
    /// HTTP/1.0.
    pub(super) http10: bool,
    pub(super) close: bool,
    pub(super) keep_alive: bool,
    pub(super) content_length: Option<u64>,
    pub(super) chunked: bool,
    pub(super) expect_continue: bool,
}

pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub(super) fn parse_head(raw: &[u8]) -> Result<Head, Stop> {
    let bad = || Stop::Answer(400, "bad request");
    let text = std::str::from_utf8(raw).map_err(|_| bad())?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !is_token(method) || target.is_empty() {
        return Err(bad());
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        v if v.starts_with("HTTP/") => {
            return Err(Stop::Answer(505, "HTTP version not supported"));
        }
        _ => return Err(bad()),
    };
    let mut head = Head {
        method: method.to_owned(),
        target: target.to_owned(),
        http10,
        close: false,
        keep_alive: false,
        content_length: None,
        chunked: false,
        expect_continue: false,
    };
    for line in lines {
        // Obsolete line folding, a field without a colon, or whitespace
        // before the colon: rejected (RFC 9112 §5).
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        if !is_token(name) {
            return Err(bad());
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            // Saturates: anything that large is over the cap anyway.
            let n = value.parse::<u64>().unwrap_or(u64::MAX);
            if head.content_length.is_some_and(|m| m != n) {
                return Err(bad());
            }
            head.content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if !value.eq_ignore_ascii_case("chunked") || head.chunked {
                return Err(Stop::Answer(501, "transfer coding not implemented"));
            }
            head.chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for opt in value.split(',').map(str::trim) {
                head.close |= opt.eq_ignore_ascii_case("close");
                head.keep_alive |= opt.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if !value.eq_ignore_ascii_case("100-continue") {
                return Err(Stop::Answer(417, "expectation failed"));
            }
            head.expect_continue = true;
        }
    }
    // Both framings at once is how requests are smuggled.
    if head.chunked && head.content_length.is_some() {
        return Err(bad());
    }
    Ok(head)
}

pub(super) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
