//! Request authorization: `api_secret`, stored tokens, HMAC-signed tokens, `admin_secret`
//! (Janus `src/auth.c` and `janus_request_check_secret`).
//!
//! Either a valid secret or a valid token authorizes a request. Tokens are stored in memory
//! (managed by the Admin API) unless `token_auth_secret` is set; then they are signed:
//! `<expiry>,janus[,<plugin>...]:<base64(HMAC-SHA1(secret, "<expiry>,janus[,...]"))>`.
//! Every secret comparison is constant-time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

/// The realm the core checks in signed tokens.
pub const REALM: &str = "janus";

/// Why a stored-token Admin request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("Stored-Token based authentication disabled")]
    StoredDisabled,
    #[error("token not found")]
    NotFound,
    #[error("token already exists")]
    Exists,
}

/// Constant-time string equality (length differences are not hidden, as in Janus).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The signature part of a signed token for `data` (`"<expiry>,janus[,...]"`).
pub fn sign(secret: &str, data: &str) -> String {
    // HMAC accepts keys of any length; the error branch cannot happen.
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks a signed token at `now` (unix seconds); with `plugin`, it must be listed.
pub fn check_signed(secret: &str, token: &str, now: u64, plugin: Option<&str>) -> bool {
    let Some((data, signature)) = token.split_once(':') else {
        return false;
    };
    let mut fields = data.split(',');
    let (Some(expiry), Some(realm)) = (fields.next(), fields.next()) else {
        return false;
    };
    // Janus parses the expiry with atoi: leading digits, garbage after them ignored.
    let digits: String = expiry
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let expiry: u64 = digits.parse().unwrap_or(0);
    if now > expiry || realm != REALM {
        return false;
    }
    if let Some(p) = plugin {
        if !fields.any(|f| f == p) {
            return false;
        }
    }
    ct_eq(signature, &sign(secret, data))
}

/// The authorization state of a gateway.
#[derive(Debug)]
pub struct Auth {
    api_secret: Option<String>,
    token_auth: bool,
    signing_secret: Option<String>,
    admin_secret: Option<String>,
    /// token → allowed plugin packages.
    stored: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

impl Auth {
    pub fn new(
        api_secret: Option<String>,
        token_auth: bool,
        token_auth_secret: Option<String>,
        admin_secret: Option<String>,
    ) -> Auth {
        Auth {
            api_secret,
            token_auth,
            signing_secret: if token_auth { token_auth_secret } else { None },
            admin_secret,
            stored: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn api_secret_enabled(&self) -> bool {
        self.api_secret.is_some()
    }

    pub fn token_auth_enabled(&self) -> bool {
        self.token_auth
    }

    /// Tokens are kept in memory and managed by the Admin API (not signed).
    pub fn stored_mode(&self) -> bool {
        self.token_auth && self.signing_secret.is_none()
    }

    fn stored(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BTreeSet<String>>> {
        self.stored
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Is `token` valid (stored, or correctly signed and not expired)?
    pub fn check_token(&self, token: &str) -> bool {
        if !self.token_auth {
            return false;
        }
        match &self.signing_secret {
            Some(secret) => check_signed(secret, token, unix_now(), None),
            None => self.stored().keys().any(|t| ct_eq(t, token)),
        }
    }

    /// The either-or rule of `janus_request_check_secret`.
    pub fn check_request(&self, apisecret: Option<&str>, token: Option<&str>) -> bool {
        if self.api_secret.is_none() && !self.token_auth {
            return true;
        }
        let secret_ok = match (&self.api_secret, apisecret) {
            (Some(expected), Some(given)) => ct_eq(given, expected),
            _ => false,
        };
        secret_ok || token.is_some_and(|t| self.check_token(t))
    }

    /// May `token` attach to `plugin` (checked on `attach` when a token is present)?
    pub fn token_allows_plugin(&self, token: &str, plugin: &str) -> bool {
        if !self.token_auth {
            return true;
        }
        match &self.signing_secret {
            Some(secret) => check_signed(secret, token, unix_now(), Some(plugin)),
            None => self
                .stored()
                .iter()
                .any(|(t, plugins)| ct_eq(t, token) && plugins.contains(plugin)),
        }
    }

    /// Admin requests (other than `info`/`ping`) need `admin_secret` when one is configured.
    pub fn check_admin(&self, given: Option<&str>) -> bool {
        match (&self.admin_secret, given) {
            (None, _) => true,
            (Some(expected), Some(given)) => ct_eq(given, expected),
            (Some(_), None) => false,
        }
    }

    fn require_stored(&self) -> Result<(), TokenError> {
        if self.stored_mode() {
            Ok(())
        } else {
            Err(TokenError::StoredDisabled)
        }
    }

    pub fn add_token(&self, token: &str) -> Result<(), TokenError> {
        self.require_stored()?;
        let mut stored = self.stored();
        if stored.contains_key(token) {
            return Err(TokenError::Exists);
        }
        stored.insert(token.to_owned(), BTreeSet::new());
        Ok(())
    }

    pub fn token_exists(&self, token: &str) -> Result<bool, TokenError> {
        self.require_stored()?;
        Ok(self.stored().contains_key(token))
    }

    /// Adds `plugins` to the token; returns the token's plugins afterwards.
    pub fn allow(&self, token: &str, plugins: &[String]) -> Result<Vec<String>, TokenError> {
        self.require_stored()?;
        let mut stored = self.stored();
        let set = stored.get_mut(token).ok_or(TokenError::NotFound)?;
        set.extend(plugins.iter().cloned());
        Ok(set.iter().cloned().collect())
    }

    /// Removes `plugins` from the token; returns the token's plugins afterwards.
    pub fn disallow(&self, token: &str, plugins: &[String]) -> Result<Vec<String>, TokenError> {
        self.require_stored()?;
        let mut stored = self.stored();
        let set = stored.get_mut(token).ok_or(TokenError::NotFound)?;
        for p in plugins {
            set.remove(p);
        }
        Ok(set.iter().cloned().collect())
    }

    pub fn remove_token(&self, token: &str) -> Result<(), TokenError> {
        self.require_stored()?;
        self.stored()
            .remove(token)
            .map(|_| ())
            .ok_or(TokenError::NotFound)
    }

    /// `(token, allowed plugins)` for every stored token.
    pub fn list(&self) -> Result<Vec<(String, Vec<String>)>, TokenError> {
        self.require_stored()?;
        Ok(self
            .stored()
            .iter()
            .map(|(t, p)| (t.clone(), p.iter().cloned().collect()))
            .collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha1_vector() {
        // RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign("Jefe", "what do ya want for nothing?"),
            "7/zfauXrL6LSdBbV8YTfnCWafHk="
        );
    }

    #[test]
    fn signed_token_checks_expiry_realm_plugin_and_signature() {
        let secret = "janus";
        let data = "2000000000,janus,janus.plugin.videoroom";
        let token = format!("{data}:{}", sign(secret, data));
        let now = 1_700_000_000;
        assert!(check_signed(secret, &token, now, None));
        assert!(check_signed(
            secret,
            &token,
            now,
            Some("janus.plugin.videoroom")
        ));
        assert!(!check_signed(
            secret,
            &token,
            now,
            Some("janus.plugin.echotest")
        ));
        assert!(
            !check_signed(secret, &token, 2_000_000_001, None),
            "expired"
        );
        assert!(!check_signed("other", &token, now, None), "wrong secret");
        let other_realm = "2000000000,nope";
        assert!(!check_signed(
            secret,
            &format!("{other_realm}:{}", sign(secret, other_realm)),
            now,
            None
        ));
        assert!(!check_signed(secret, "garbage", now, None));
        assert!(!check_signed(secret, "2000000000:abc", now, None));
    }

    #[test]
    fn either_secret_or_token_authorizes() {
        let auth = Auth::new(Some("s3cret".into()), true, None, None);
        auth.add_token("tok").unwrap();
        assert!(auth.check_request(Some("s3cret"), None));
        assert!(auth.check_request(None, Some("tok")));
        assert!(auth.check_request(Some("bad"), Some("tok")));
        assert!(!auth.check_request(Some("bad"), Some("bad")));
        assert!(!auth.check_request(None, None));
        let open = Auth::new(None, false, None, None);
        assert!(open.check_request(None, None));
    }

    #[test]
    fn stored_tokens_and_plugins() {
        let auth = Auth::new(None, true, None, Some("adm".into()));
        assert!(
            auth.check_admin(Some("adm"))
                && !auth.check_admin(Some("x"))
                && !auth.check_admin(None)
        );
        auth.add_token("t").unwrap();
        assert_eq!(auth.add_token("t"), Err(TokenError::Exists));
        assert_eq!(
            auth.allow("t", &["a".into(), "b".into()]).unwrap(),
            ["a", "b"]
        );
        assert!(auth.token_allows_plugin("t", "a"));
        assert_eq!(auth.disallow("t", &["a".into()]).unwrap(), ["b"]);
        assert!(!auth.token_allows_plugin("t", "a"));
        assert_eq!(auth.allow("nope", &[]), Err(TokenError::NotFound));
        auth.remove_token("t").unwrap();
        assert!(!auth.check_token("t"));
        let signed = Auth::new(None, true, Some("k".into()), None);
        assert_eq!(signed.add_token("x"), Err(TokenError::StoredDisabled));
    }
}
