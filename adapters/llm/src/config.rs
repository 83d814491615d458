//! Which model to ask, where, with which key, and how long to wait: `LLM_BASE_URL`,
//! `LLM_API_KEY`, `LLM_MODEL` (all three, or none: no chat assistant) and `LLM_TIMEOUT_SECS`.

use std::time::Duration;

use http::Uri;
use secrecy::SecretString;

/// What to set to turn the assistant on; the answer of a chat without a model says it.
pub const HINT: &str = "set LLM_BASE_URL (an OpenAI-compatible API, e.g. https://api.openai.com/v1), LLM_API_KEY \
                        and LLM_MODEL to turn the chat assistant on";

/// The settings every model needs, in the order they are reported missing.
const REQUIRED: [&str; 3] = ["LLM_BASE_URL", "LLM_API_KEY", "LLM_MODEL"];

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LlmConfigError {
    /// Some of the three settings are set, not all.
    #[error("{} not set: the chat assistant needs LLM_BASE_URL, LLM_API_KEY and LLM_MODEL", .0.join(", "))]
    Missing(Vec<&'static str>),
    /// A setting's value is not what it must be (the key's value is never shown).
    #[error("{key}={value:?}: {why}")]
    Invalid {
        /// The variable.
        key: &'static str,
        /// Its value.
        value: String,
        /// What it must be.
        why: String,
    },
    /// The TLS set-up failed.
    #[error("TLS set-up failed: {0}")]
    Tls(String),
}

/// Where the model is and how to ask it. `Debug` shows no key.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// The API's base URL, without a trailing slash (`https://api.openai.com/v1`); completions
    /// are asked at `{base_url}/chat/completions`.
    pub base_url: Uri,
    /// Sent as `Authorization: Bearer …`; never logged.
    pub api_key: SecretString,
    /// The model's name (`gpt-4o-mini`, `gemini-2.0-flash`, `llama3.1`, ...).
    pub model: String,
    /// The longest wait to connect.
    pub connect_timeout: Duration,
    /// The longest wait for the answer to begin, and between two of its pieces
    /// (`LLM_TIMEOUT_SECS`, default 60).
    pub read_timeout: Duration,
    /// The longest a whole answer may take.
    pub answer_timeout: Duration,
    /// The most bytes an answer may have.
    pub max_answer_bytes: usize,
}

impl LlmConfig {
    /// A model named `model` at `base_url` (`http` or `https`), asked with `api_key`, with the
    /// default deadlines: 10 s to connect, 60 s to begin and between pieces, 5 minutes for an
    /// answer of at most 4 MiB.
    ///
    /// # Errors
    /// [`LlmConfigError::Invalid`] for a URL that is not an absolute http(s) URL, or an empty
    /// model name.
    pub fn new(base_url: &str, api_key: SecretString, model: &str) -> Result<Self, LlmConfigError> {
        let invalid = |why: &str| LlmConfigError::Invalid {
            key: "LLM_BASE_URL",
            value: base_url.to_owned(),
            why: why.to_owned(),
        };
        let trimmed = base_url.trim().trim_end_matches('/');
        let uri: Uri = trimmed.parse().map_err(|_| invalid("must be a URL"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(invalid("must be an http:// or https:// URL with a host"));
        }
        if uri.query().is_some() {
            return Err(invalid("must have no query"));
        }
        let model = model.trim();
        if model.is_empty() {
            return Err(LlmConfigError::Invalid {
                key: "LLM_MODEL",
                value: String::new(),
                why: "must not be empty".into(),
            });
        }
        Ok(Self {
            base_url: uri,
            api_key,
            model: model.to_owned(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            answer_timeout: Duration::from_secs(300),
            max_answer_bytes: 4 << 20,
        })
    }

    /// The settings read through `lookup` (empty values count as unset): `None` when none of
    /// `LLM_BASE_URL`, `LLM_API_KEY` and `LLM_MODEL` is set.
    ///
    /// # Errors
    /// [`LlmConfigError::Missing`] when some are set and not all, or a value that cannot be
    /// used.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, LlmConfigError> {
        let get = |key: &str| lookup(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let values: Vec<Option<String>> = REQUIRED.iter().map(|key| get(key)).collect();
        let missing: Vec<&'static str> =
            REQUIRED.iter().zip(&values).filter(|(_, v)| v.is_none()).map(|(k, _)| *k).collect();
        if missing.len() == REQUIRED.len() {
            return Ok(None);
        }
        let mut values = values.into_iter().flatten();
        let (Some(url), Some(key), Some(model)) = (values.next(), values.next(), values.next()) else {
            return Err(LlmConfigError::Missing(missing));
        };
        let mut config = Self::new(&url, SecretString::from(key), &model)?;
        if let Some(secs) = get("LLM_TIMEOUT_SECS") {
            let seconds = secs.parse::<u64>().ok().filter(|s| *s > 0).ok_or_else(|| LlmConfigError::Invalid {
                key: "LLM_TIMEOUT_SECS",
                value: secs.clone(),
                why: "must be a whole number of seconds, at least 1".into(),
            })?;
            config.read_timeout = Duration::from_secs(seconds);
        }
        Ok(Some(config))
    }

    /// Where completions are asked.
    pub(crate) fn endpoint(&self) -> Result<Uri, LlmConfigError> {
        let url = format!("{}/chat/completions", self.base_url.to_string().trim_end_matches('/'));
        url.parse().map_err(|_| LlmConfigError::Invalid {
            key: "LLM_BASE_URL",
            value: self.base_url.to_string(),
            why: "must be a URL".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Option<LlmConfig>, LlmConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        LlmConfig::from_lookup(|k| map.get(k).cloned())
    }

    const ALL: [(&str, &str); 3] =
        [("LLM_BASE_URL", "https://api.openai.com/v1/"), ("LLM_API_KEY", "sk-s3cret"), ("LLM_MODEL", "gpt-4o-mini")];

    #[test]
    fn all_three_settings_or_none() {
        assert!(read(&[]).unwrap().is_none());
        assert!(read(&[("LLM_MODEL", " ")]).unwrap().is_none(), "blank is unset");
        let c = read(&ALL).unwrap().unwrap();
        assert_eq!(c.endpoint().unwrap().to_string(), "https://api.openai.com/v1/chat/completions");
        assert_eq!((c.model.as_str(), c.read_timeout), ("gpt-4o-mini", Duration::from_secs(60)));
        let e = read(&ALL[..1]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LLM_API_KEY, LLM_MODEL not set: the chat assistant needs LLM_BASE_URL, LLM_API_KEY and LLM_MODEL"
        );
    }

    #[test]
    fn values_are_checked_and_the_key_never_shown() {
        let with = |extra: (&'static str, &'static str)| {
            let mut vars: Vec<(&str, &str)> = ALL.iter().copied().filter(|(k, _)| *k != extra.0).collect();
            vars.push(extra);
            read(&vars)
        };
        for bad in ["api.openai.com/v1", "ftp://x/v1", "https://x/v1?a=b", "not a url"] {
            assert!(with(("LLM_BASE_URL", bad)).is_err(), "{bad}");
        }
        assert!(with(("LLM_TIMEOUT_SECS", "0")).is_err());
        assert_eq!(with(("LLM_TIMEOUT_SECS", "5")).unwrap().unwrap().read_timeout, Duration::from_secs(5));
        let shown = format!("{:?}", read(&ALL).unwrap().unwrap());
        assert!(!shown.contains("sk-s3cret"), "{shown}");
    }
}
