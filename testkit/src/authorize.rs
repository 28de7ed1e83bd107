//! A test application's authorize request: the authorization code flow with PKCE (RFC 7636,
//! S256), as the server tests send it; and the auto-posting page that answers it (form_post).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The PKCE S256 challenge of `verifier`.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Who asks, where the answer goes, and the values the application checks on its way back.
#[derive(Debug, Clone, Copy)]
pub struct Authorize<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub verifier: &'a str,
}

impl Authorize<'_> {
    /// The request's query (code flow, `openid offline_access`, PKCE S256); `extra` replaces
    /// or adds parameters, and one with an empty value is taken out.
    pub fn query(&self, extra: &[(&str, &str)]) -> String {
        let challenge = s256(self.verifier);
        let mut params = vec![
            ("client_id", self.client_id),
            ("redirect_uri", self.redirect_uri),
            ("response_type", "code"),
            ("scope", "openid offline_access"),
            ("state", self.state),
            ("nonce", self.nonce),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            params.retain(|(name, _)| name != k);
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish()
    }
}

/// The action and fields of an auto-posting page (`response_mode=form_post`), entities unescaped.
pub fn form_post(html: &str) -> (String, Vec<(String, String)>) {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    };
    let attr = |tag: &str, name: &str| {
        tag.split_once(&format!("{name}=\"")).and_then(|(_, r)| r.split_once('"')).map(|(v, _)| unescape(v))
    };
    let action = html.split("<form").nth(1).and_then(|f| attr(f, "action")).expect("a form action");
    let inputs = html
        .split("<input")
        .skip(1)
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value").unwrap_or_default())))
        .collect();
    (action, inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_parameters_replace_add_and_take_out() {
        let request =
            Authorize { client_id: "app", redirect_uri: "http://localhost/cb", state: "s", nonce: "n", verifier: "v" };
        let query = request.query(&[("state", "other"), ("prompt", "login"), ("nonce", "")]);
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "client_id",
                "redirect_uri",
                "response_type",
                "scope",
                "code_challenge",
                "code_challenge_method",
                "state",
                "prompt"
            ]
        );
        assert!(params.contains(&("state".to_owned(), "other".to_owned())), "{params:?}");
        // RFC 7636 appendix B's verifier and challenge.
        assert_eq!(s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }
}
