//! How the access token is obtained: the grant named, or the one the credentials given imply.

use super::checks::{check_url, header_value};
use super::settings::{invalid, Given, Settings};
use crate::core::error::{ErrorCode, Result, RuleError};
use crate::core::secret::Secret;

/// How the rule obtains its Salesforce access token.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenGrant {
    /// OAuth username-password flow (parity with the Auth0 template; blocked in new orgs).
    Password {
        /// The connected app's consumer key.
        client_id: String,
        /// The connected app's consumer secret.
        client_secret: Secret,
        /// The integration user.
        username: String,
        /// Its password (with its security token appended, when the org asks for one).
        password: Secret,
    },
    /// OAuth client credentials flow; the login URL must be the org's My Domain.
    ClientCredentials {
        /// The connected app's consumer key.
        client_id: String,
        /// The connected app's consumer secret.
        client_secret: Secret,
    },
    /// OAuth JWT bearer flow: an RS256 assertion signed with `private_key` (PKCS#8 PEM).
    JwtBearer {
        /// The connected app's consumer key.
        client_id: String,
        /// The user the token is issued for.
        username: String,
        /// The key the assertion is signed with (PKCS#8 PEM).
        private_key: Secret,
    },
    /// OAuth refresh token flow.
    RefreshToken {
        /// The connected app's consumer key.
        client_id: String,
        /// The connected app's consumer secret, when it requires one.
        client_secret: Option<Secret>,
        /// The refresh token.
        refresh_token: Secret,
    },
    /// A token issued elsewhere (a token broker); never refreshed by us.
    AccessToken {
        /// The token.
        access_token: Secret,
        /// The instance it is valid for.
        instance_url: String,
    },
}

impl TokenGrant {
    /// The grant's name as configured (`grantType`).
    pub fn name(&self) -> &'static str {
        match self {
            TokenGrant::Password { .. } => "password",
            TokenGrant::ClientCredentials { .. } => "client_credentials",
            TokenGrant::JwtBearer { .. } => "jwt_bearer",
            TokenGrant::RefreshToken { .. } => "refresh_token",
            TokenGrant::AccessToken { .. } => "access_token",
        }
    }
    /// Identifies whose token this is, for the token cache. Holds no secret.
    pub fn cache_identity(&self) -> String {
        self.cache_identity_with_room(0)
    }
    /// [`TokenGrant::cache_identity`] with `extra` bytes of spare capacity for what follows.
    pub(crate) fn cache_identity_with_room(&self, extra: usize) -> String {
        // `name:part[:part]`, written piece by piece: this runs on every login.
        let parts: [&str; 2] = match self {
            TokenGrant::Password { client_id, username, .. } | TokenGrant::JwtBearer { client_id, username, .. } => {
                [client_id, username]
            }
            TokenGrant::ClientCredentials { client_id, .. } | TokenGrant::RefreshToken { client_id, .. } => {
                [client_id, ""]
            }
            TokenGrant::AccessToken { instance_url, .. } => [instance_url, ""],
        };
        let name = self.name();
        let mut out = String::with_capacity(name.len() + parts[0].len() + parts[1].len() + 2 + extra);
        out.push_str(name);
        out.push(':');
        out.push_str(parts[0]);
        if let TokenGrant::Password { .. } | TokenGrant::JwtBearer { .. } = self {
            out.push(':');
            out.push_str(parts[1]);
        }
        out
    }
}

/// The grant `s` names, or the one its credentials imply, with what that grant needs.
pub(super) fn parse_grant(s: &Settings) -> Result<TokenGrant> {
    // Whether a credential is given; one of the wrong type is refused here already.
    let given = |g: &Given<Secret>, key: &str| g.clone().secret(key).map(|v| v.is_some());
    let explicit = s.grant.clone().text("grant")?;
    let chosen = match explicit.as_deref() {
        Some(g) => g.to_ascii_lowercase().replace('-', "_"),
        None if given(&s.access_token, "accessToken")? => "access_token".into(),
        None if given(&s.private_key, "privateKey")? => "jwt_bearer".into(),
        None if given(&s.refresh_token, "refreshToken")? => "refresh_token".into(),
        None if s.username.clone().text("username")?.is_some() => "password".into(),
        None => "client_credentials".into(),
    };
    let client_id = |why| s.client_id.clone().required("clientId", why);
    Ok(match chosen.as_str() {
        "password" => {
            let why = "for the password grant";
            let mut password = s.password.clone().required("password", why)?.expose().to_string();
            if let Some(token) = s.security_token.clone().secret("securityToken")? {
                password.push_str(token.expose());
            }
            TokenGrant::Password {
                client_id: client_id(why)?,
                client_secret: s.client_secret.clone().required("clientSecret", why)?,
                username: s.username.clone().required("username", why)?,
                password: Secret::new(password),
            }
        }
        "client_credentials" => {
            let why = "for the client_credentials grant (set username and password to use the password grant instead)";
            TokenGrant::ClientCredentials {
                client_id: client_id(why)?,
                client_secret: s.client_secret.clone().required("clientSecret", why)?,
            }
        }
        "jwt_bearer" | "jwt" => {
            let why = "for the JWT bearer grant";
            let key = s.private_key.clone().required("privateKey", why)?;
            if !key.expose().contains("-----BEGIN PRIVATE KEY-----") {
                return Err(RuleError::new(
                    ErrorCode::ConfigInvalid,
                    "privateKey must be a PKCS#8 PEM key (-----BEGIN PRIVATE KEY-----); convert an RSA key with `openssl pkcs8 -topk8 -nocrypt`",
                )
                .with_field("privateKey"));
            }
            TokenGrant::JwtBearer {
                client_id: client_id(why)?,
                username: s.username.clone().required("username", why)?,
                private_key: key,
            }
        }
        "refresh_token" => {
            let why = "for the refresh_token grant";
            TokenGrant::RefreshToken {
                client_id: client_id(why)?,
                client_secret: s.client_secret.clone().secret("clientSecret")?,
                refresh_token: s.refresh_token.clone().required("refreshToken", why)?,
            }
        }
        "access_token" => {
            let why = "when using a pre-issued access token";
            let instance_url = s.instance_url.clone().required("instanceUrl", why)?;
            let access_token = s.access_token.clone().required("accessToken", why)?;
            TokenGrant::AccessToken {
                access_token: Secret::new(header_value("accessToken", access_token.expose().to_string())?),
                instance_url: check_url("instanceUrl", &instance_url, true)?,
            }
        }
        other => {
            return Err(invalid(
                "grant",
                &format!(
                "'{other}' is not a grant; use password, client_credentials, jwt_bearer, refresh_token or access_token"
            ),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::Config;
    use serde_json::{json, Map, Value};

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn chooses_client_credentials_without_username() {
        let c = Config::parse(&obj(
            json!({"clientId":"id","clientSecret":"s","loginUrl":"https://acme.my.salesforce.com/"}),
        ))
        .unwrap();
        assert_eq!(c.grant.name(), "client_credentials");
        assert_eq!(c.login_url, "https://acme.my.salesforce.com");
        assert_eq!(c.api_version, "66.0");
        assert_eq!(c.mapping_name, "recommended");
        assert_eq!(c.deadline_ms, 5000);
        assert_eq!(c.dedupe_by_email, None, "unset: each entry point has its own default");
    }

    #[test]
    fn password_grant_appends_security_token() {
        let c = Config::parse(&obj(
            json!({"clientId":"id","clientSecret":"s","username":"u@x","password":"pw","securityToken":"TOK"}),
        ))
        .unwrap();
        match c.grant {
            TokenGrant::Password { password, .. } => assert_eq!(password.expose(), "pwTOK"),
            g => panic!("{g:?}"),
        }
    }

    #[test]
    fn cache_identity_names_the_grant_and_whose_token() {
        let id = |v: Value| Config::parse(&obj(v)).unwrap().grant.cache_identity();
        assert_eq!(id(json!({"clientId":"c","clientSecret":"s"})), "client_credentials:c");
        assert_eq!(id(json!({"clientId":"c","clientSecret":"s","username":"u","password":"p"})), "password:c:u");
        assert_eq!(id(json!({"clientId":"c","refreshToken":"r"})), "refresh_token:c");
        assert_eq!(
            id(json!({"accessToken":"t","instanceUrl":"https://a.my.salesforce.com"})),
            "access_token:https://a.my.salesforce.com"
        );
        let c = Config::parse(&obj(json!({"clientId":"c","clientSecret":"s"}))).unwrap();
        assert!(crate::core::flow::cache_identity(&c).starts_with("client_credentials:c@https://login.salesforce.com#"));
    }
}
