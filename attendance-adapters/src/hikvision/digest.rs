//! HTTP Digest authentication (RFC 7616 with MD5 and `qop="auth"`, as Hikvision terminals use
//! it), both sides and pure: parse a `WWW-Authenticate` challenge, compute the `Authorization`
//! answer, and check an answer as the fake terminal does.
//!
//! `HA1 = MD5(user:realm:password)`, `HA2 = MD5(method:uri)`,
//! `response = MD5(HA1:nonce:nc:cnonce:qop:HA2)` (or `MD5(HA1:nonce:HA2)` without `qop`).

use std::fmt::Write as _;

use md5::{Digest as _, Md5};

/// A `WWW-Authenticate: Digest …` challenge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `qop` as offered (`auth`, `auth,auth-int`, or absent).
    pub qop: Option<String>,
    /// `opaque`, echoed back when present.
    pub opaque: Option<String>,
    /// `algorithm` (only MD5 is supported; absent means MD5).
    pub algorithm: Option<String>,
    /// `stale`: the nonce expired but the credentials were right.
    pub stale: bool,
}

/// Splits `key=value, key="quoted, value"` parameters; keys are lowercased.
pub fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut end = None;
            let mut escaped = false;
            for (i, c) in quoted.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        end = Some(i);
                        break;
                    }
                    _ => escaped = false,
                }
            }
            let end = end.unwrap_or(quoted.len());
            let mut unescaped = String::with_capacity(end);
            let mut chars = quoted[..end].chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => unescaped.extend(chars.next()),
                    c => unescaped.push(c),
                }
            }
            value = unescaped;
            rest = quoted.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        out.push((key, value));
    }
    out
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Reads a `WWW-Authenticate` header value; `None` unless it is a Digest challenge with a realm
/// and a nonce.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let scheme = header.get(..6)?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let params = parse_params(header.get(6..)?);
    Some(Challenge {
        realm: param(&params, "realm")?.to_owned(),
        nonce: param(&params, "nonce")?.to_owned(),
        qop: param(&params, "qop").map(str::to_owned),
        opaque: param(&params, "opaque").map(str::to_owned),
        algorithm: param(&params, "algorithm").map(str::to_owned),
        stale: param(&params, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
    })
}

/// Writes a challenge header value (the fake terminal's 401), in the order real firmware use.
pub fn encode_challenge(challenge: &Challenge) -> String {
    let mut out = String::from("Digest ");
    if let Some(qop) = &challenge.qop {
        let _ = write!(out, "qop=\"{qop}\", ");
    }
    let _ = write!(
        out,
        "realm=\"{}\", nonce=\"{}\", stale=\"{}\"",
        challenge.realm,
        challenge.nonce,
        if challenge.stale { "TRUE" } else { "FALSE" }
    );
    if let Some(opaque) = &challenge.opaque {
        let _ = write!(out, ", opaque=\"{opaque}\"");
    }
    out
}

fn md5_hex(text: &str) -> String {
    let digest = Md5::digest(text.as_bytes());
    let mut out = String::with_capacity(32);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn response_hash(
    user: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(&str, &str, &str)>,
) -> String {
    let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce, qop)) => md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")),
        None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

fn quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The `Authorization` header value answering `challenge` for `method` on `uri` (path and
/// query), with request count `nc` and client nonce `cnonce`. Uses `qop=auth` when the challenge
/// offers it.
pub fn authorization(
    challenge: &Challenge,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> String {
    let auth = challenge
        .qop
        .as_deref()
        .is_some_and(|q| q.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth")));
    let nc = format!("{nc:08x}");
    let response = response_hash(
        user,
        &challenge.realm,
        password,
        method,
        uri,
        &challenge.nonce,
        auth.then_some((nc.as_str(), cnonce, "auth")),
    );
    let mut out = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm=MD5",
        quote(user),
        quote(&challenge.realm),
        quote(&challenge.nonce),
        quote(uri)
    );
    if auth {
        let _ = write!(out, ", qop=auth, nc={nc}, cnonce=\"{}\"", quote(cnonce));
    }
    if let Some(opaque) = &challenge.opaque {
        let _ = write!(out, ", opaque=\"{}\"", quote(opaque));
    }
    out
}

/// Why the server side refused an `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a Digest header (Basic, say) or a required parameter is missing.
    #[error("not a digest answer")]
    Malformed,
    /// Another realm, nonce or user, or a URI that is not the request's.
    #[error("wrong realm, nonce, user or uri")]
    Mismatch,
    /// The response hash is wrong (bad password).
    #[error("wrong response")]
    BadResponse,
}

/// Checks an `Authorization` header as a terminal does: Digest, the expected realm, nonce and
/// user, the request's own `method` and `uri`, and the right response hash for `password`.
pub fn verify(
    header: &str,
    realm: &str,
    nonce: &str,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
) -> Result<(), VerifyError> {
    let header = header.trim();
    let scheme = header.get(..6).ok_or(VerifyError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return Err(VerifyError::Malformed);
    }
    let params = parse_params(header.get(6..).ok_or(VerifyError::Malformed)?);
    let get = |k: &str| param(&params, k).ok_or(VerifyError::Malformed);
    if get("realm")? != realm || get("nonce")? != nonce || get("username")? != user {
        return Err(VerifyError::Mismatch);
    }
    if get("uri")? != uri {
        return Err(VerifyError::Mismatch);
    }
    let qop = match param(&params, "qop") {
        Some(qop) => Some((get("nc")?, get("cnonce")?, qop)),
        None => None,
    };
    let want = response_hash(user, realm, password, method, uri, nonce, qop);
    if get("response")?.eq_ignore_ascii_case(&want) {
        Ok(())
    } else {
        Err(VerifyError::BadResponse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_example_response() {
        // RFC 2617 section 3.5: Mufasa / Circle Of Life.
        let challenge = Challenge {
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            qop: Some("auth,auth-int".into()),
            opaque: Some("5ccc069c403ebaf9f0171e9517f40e41".into()),
            ..Challenge::default()
        };
        let header = authorization(
            &challenge,
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            1,
            "0a4f113b",
        );
        assert!(
            header.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{header}"
        );
        verify(
            &header,
            "testrealm@host.com",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
        )
        .unwrap();
    }
}
