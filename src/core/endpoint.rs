//! URLs the crate sends to (`loginUrl`, `instanceUrl`, a token answer's `instance_url`,
//! `slackWebhookUrl`), read by the WHATWG URL rules `fetch` itself follows (the `url` crate): every
//! check looks at the host `fetch` will contact, and requests go to the parsed URL's
//! serialisation, never to the text as given. Never performs I/O.

use url::Url;

/// Why a URL text is not one the crate sends to. Each says what to fix, and none quotes the URL
/// (a Slack webhook URL is a credential).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRefusal {
    /// Not an absolute `http://` or `https://` URL, or no URL at all.
    NotHttp,
    /// A space or a control character in it: `fetch` would silently drop tabs and newlines, so
    /// what was written would not be what is contacted.
    Whitespace,
    /// The host is not a plain ASCII name: non-ASCII (the IDNA tables are left out of the
    /// build, so an international name must be written in its `xn--` form, even percent-encoded),
    /// or a character no host name has (`%2f`, `%00`, …).
    HostInvalid,
    /// `user:pass@` before the host.
    Userinfo,
    /// A `?query` or `#fragment` on a URL that paths are appended to.
    QueryOrFragment,
}

impl UrlRefusal {
    /// Completes "`{key}` …".
    pub fn reason(self) -> &'static str {
        match self {
            UrlRefusal::NotHttp => "is not an absolute http(s) URL",
            UrlRefusal::Whitespace => "must not contain spaces, tabs, line breaks or other control characters",
            UrlRefusal::HostInvalid => {
                "must have a host name of ASCII letters, digits, '-' and '.' (an international domain name in its xn-- form)"
            }
            UrlRefusal::Userinfo => "must not contain a user name or password (user:pass@ before the host)",
            UrlRefusal::QueryOrFragment => "must not have a ?query or #fragment",
        }
    }
}

/// An absolute http(s) URL without userinfo, as `fetch` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUrl(Url);

impl WebUrl {
    /// Read `text` as `fetch` would, refusing what it would silently change or is not http(s).
    pub fn parse(text: &str) -> Result<WebUrl, UrlRefusal> {
        // WHATWG parsing drops tabs and line breaks anywhere and trims spaces and controls at
        // the ends; refuse them instead, so the text people read is the URL that is used.
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlRefusal::Whitespace);
        }
        let url = Url::parse(text).map_err(|e| match e {
            url::ParseError::IdnaError => UrlRefusal::HostInvalid,
            _ => UrlRefusal::NotHttp,
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(UrlRefusal::NotHttp);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefusal::Userinfo);
        }
        Ok(WebUrl(url))
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }

    /// The host `fetch` contacts: a lower-case name, a dotted IPv4 address (`http://127.1` is
    /// `127.0.0.1`) or a bracketed IPv6 address (`[::1]`). No port.
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    /// Whether the host is this machine (`localhost`, `127.0.0.1` or `[::1]`).
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.host())
    }

    /// The serialisation: what is sent.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The serialisation without trailing `/`, for a URL that paths are appended to
    /// (`{base}/services/…`). A query or fragment would swallow the appended path, so it is
    /// refused. Appending `/…` to it keeps the host: the path is serialised with `?`, `#` and
    /// `\` already encoded or turned into `/`.
    pub fn base(&self) -> Result<String, UrlRefusal> {
        if self.0.query().is_some() || self.0.fragment().is_some() {
            return Err(UrlRefusal::QueryOrFragment);
        }
        Ok(self.as_str().trim_end_matches('/').to_string())
    }
}

/// Plain http is allowed to these hosts only (the local emulator, tests): exactly `localhost`,
/// `127.0.0.1` and `[::1]`, as a [`WebUrl::host`] writes them.
pub fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<(bool, String, String), UrlRefusal> {
        WebUrl::parse(text).map(|u| (u.is_https(), u.host().to_string(), u.as_str().to_string()))
    }

    #[test]
    fn the_host_is_the_one_fetch_contacts() {
        // Each checked against `new URL(text)` in Node 20.
        for (text, https, host, sent) in [
            (
                "https://evil.example\\.my.salesforce.com",
                true,
                "evil.example",
                "https://evil.example/.my.salesforce.com",
            ),
            (
                "HTTPS://EVIL.EXAMPLE\\.MY.SALESFORCE.COM",
                true,
                "evil.example",
                "https://evil.example/.MY.SALESFORCE.COM",
            ),
            ("https://acme%2emy.salesforce.com", true, "acme.my.salesforce.com", "https://acme.my.salesforce.com/"),
            ("https://ACME.My.Salesforce.COM/x", true, "acme.my.salesforce.com", "https://acme.my.salesforce.com/x"),
            ("https://acme.my.salesforce.com.", true, "acme.my.salesforce.com.", "https://acme.my.salesforce.com./"),
            ("http://2130706433", false, "127.0.0.1", "http://127.0.0.1/"),
            ("http://0x7f.1", false, "127.0.0.1", "http://127.0.0.1/"),
            ("http://127.1:4000", false, "127.0.0.1", "http://127.0.0.1:4000/"),
            ("http://[0:0::1]:8080/p", false, "[::1]", "http://[::1]:8080/p"),
            ("http://LOCALHOST:3000", false, "localhost", "http://localhost:3000/"),
            ("https:h.example", true, "h.example", "https://h.example/"),
            ("https://a.example?q#f", true, "a.example", "https://a.example/?q#f"),
            ("https://xn--bcher-kva.example", true, "xn--bcher-kva.example", "https://xn--bcher-kva.example/"),
        ] {
            assert_eq!(read(text), Ok((https, host.to_string(), sent.to_string())), "{text:?}");
        }
    }

    #[test]
    fn confusables_that_cannot_be_read_safely_are_refused() {
        for (text, why) in [
            ("https://acme.my.salesforce.com@evil.example", UrlRefusal::Userinfo),
            ("https://u:p@acme.my.salesforce.com", UrlRefusal::Userinfo),
            ("https://:p@acme.my.salesforce.com", UrlRefusal::Userinfo),
            ("https://evil.ex\tample.my.salesforce.com", UrlRefusal::Whitespace),
            ("https://ac\nme.my.salesforce.com", UrlRefusal::Whitespace),
            ("https://a b.example", UrlRefusal::Whitespace),
            ("https://a\u{a0}b.example", UrlRefusal::Whitespace),
            (" https://a.example", UrlRefusal::Whitespace),
            ("https://a.example\u{0}", UrlRefusal::Whitespace),
            ("https://evil．example", UrlRefusal::HostInvalid),
            ("https://acme．my．salesforce．com", UrlRefusal::HostInvalid),
            ("https://bücher.example", UrlRefusal::HostInvalid),
            // Percent-decoded, it is not ASCII: Node reads xn--exmple-cua.com.
            ("https://ex%C3%A4mple.com", UrlRefusal::HostInvalid),
            ("https://evil.example%2f.my.salesforce.com", UrlRefusal::HostInvalid),
            ("https://evil.example%2F.my.salesforce.com", UrlRefusal::HostInvalid),
            ("https://a.example%00", UrlRefusal::HostInvalid),
            ("http://256.1.1.1", UrlRefusal::NotHttp),
            ("https://", UrlRefusal::NotHttp),
            ("https:///", UrlRefusal::NotHttp),
            ("ftp://h.example", UrlRefusal::NotHttp),
            ("file:///etc/passwd", UrlRefusal::NotHttp),
            ("javascript:alert(1)", UrlRefusal::NotHttp),
            ("h.example", UrlRefusal::NotHttp),
            ("//h.example", UrlRefusal::NotHttp),
            ("", UrlRefusal::NotHttp),
            ("https://[::1", UrlRefusal::NotHttp),
            ("https://h.example:99999", UrlRefusal::NotHttp),
        ] {
            assert_eq!(read(text), Err(why), "{text:?}");
        }
    }

    #[test]
    fn loopback_is_exactly_three_hosts() {
        for text in ["http://localhost", "http://127.0.0.1:9", "http://[::1]:8080", "http://127.1", "http://0x7f.0.0.1"]
        {
            assert!(WebUrl::parse(text).unwrap().is_loopback(), "{text}");
        }
        for text in [
            "http://127.0.0.2",
            "http://127.attacker.example",
            "http://localhost.evil.example",
            "http://localhost.",
            "http://127.0.0.1.nip.io",
            "http://[::2]",
            "http://0.0.0.0",
            "http://[::ffff:127.0.0.1]",
        ] {
            assert!(!WebUrl::parse(text).unwrap().is_loopback(), "{text}");
        }
    }

    #[test]
    fn a_base_has_no_query_fragment_or_trailing_slash() {
        let base = |t: &str| WebUrl::parse(t).unwrap().base();
        assert_eq!(base("https://Acme.my.salesforce.com/"), Ok("https://acme.my.salesforce.com".into()));
        assert_eq!(base("http://127.0.0.1:4000"), Ok("http://127.0.0.1:4000".into()));
        assert_eq!(base("https://h.example/a/b//"), Ok("https://h.example/a/b".into()));
        assert_eq!(base("https://h.example/a\\b/"), Ok("https://h.example/a/b".into()));
        assert_eq!(base("https://h.example/a/../b/./c"), Ok("https://h.example/b/c".into()));
        assert_eq!(base("https://h.example?x"), Err(UrlRefusal::QueryOrFragment));
        assert_eq!(base("https://h.example#x"), Err(UrlRefusal::QueryOrFragment));
        assert_eq!(base("https://h.example/?"), Err(UrlRefusal::QueryOrFragment));
        // A path appended to a base is read with the same host.
        for t in ["https://h.example/a%3Fb%23c", "https://h.example/%5C", "https://h.example/@x"] {
            let b = base(t).unwrap();
            let joined = WebUrl::parse(&format!("{b}/services/oauth2/token")).unwrap();
            assert_eq!(joined.host(), "h.example", "{t}");
        }
    }
}
