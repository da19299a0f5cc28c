//! Page tokens: opaque to the client, base64 of `{"offset": N}` as the reference server makes
//! them (so tokens stay readable in logs and compatible across servers).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::{Error, Result};

/// The token for the page that starts at `offset`, e.g. `eyJvZmZzZXQiOiAxfQ==` for 1.
pub fn encode(offset: u64) -> String {
    // Written by hand rather than through serde_json so the spacing matches the reference
    // byte for byte (`{"offset": 1}`, with a space).
    STANDARD.encode(format!("{{\"offset\": {offset}}}"))
}

/// An absent or empty token is offset 0; anything unreadable is `INVALID_PARAMETER_VALUE`.
pub fn decode(token: Option<&str>) -> Result<u64> {
    let token = match token.map(str::trim) {
        None | Some("") => return Ok(0),
        Some(token) => token,
    };
    let invalid = |detail: &str| Error::invalid(format!("Invalid page token '{token}': {detail}"));
    let bytes = STANDARD.decode(token).map_err(|_| invalid("not base64"))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid("not JSON"))?;
    json.get("offset")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| invalid("expected {\"offset\": <non-negative integer>}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(token: Option<&str>, expected: std::result::Result<u64, &str>) {
        match (decode(token), expected) {
            (Ok(offset), Ok(expected)) => assert_eq!(offset, expected, "token: {token:?}"),
            (Err(err), Err(part)) => assert!(err.message.contains(part), "token: {token:?}: {}", err.message),
            (got, expected) => panic!("token: {token:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn encode_matches_the_reference() {
        assert_eq!(encode(1), "eyJvZmZzZXQiOiAxfQ==");
        assert_eq!(String::from_utf8(STANDARD.decode(encode(1000)).unwrap()).unwrap(), "{\"offset\": 1000}");
    }

    #[test]
    fn decode_round_trips_and_rejects_junk() {
        check(None, Ok(0));
        check(Some(""), Ok(0));
        check(Some("eyJvZmZzZXQiOiAxfQ=="), Ok(1));
        check(Some(&encode(0)), Ok(0));
        check(Some(&encode(123_456)), Ok(123_456));
        // A compact token from another server is still a valid offset.
        check(Some(&STANDARD.encode("{\"offset\":7}")), Ok(7));
        check(Some("not a token!"), Err("Invalid page token 'not a token!': not base64"));
        check(Some(&STANDARD.encode("offset=3")), Err("not JSON"));
        check(Some(&STANDARD.encode("{\"offset\": -1}")), Err("expected {\"offset\""));
        check(Some(&STANDARD.encode("{\"start\": 1}")), Err("expected {\"offset\""));
    }
}
