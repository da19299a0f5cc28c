//! The prompt registry: load, format, register and alias prompts as the Python client does.
//!
//! MLflow has no prompt endpoints: a prompt is a registered model tagged
//! `mlflow.prompt.is_prompt = true`, a prompt version is a model version whose tag
//! `mlflow.prompt.text` holds the template (plain text, or JSON text of a list of chat
//! messages) and `_mlflow_prompt_type` says which (`text` | `chat`). So prompts registered from
//! Python load here and the other way round.
//!
//! ```no_run
//! # async fn run() -> ferroflow_sdk::Result<()> {
//! let client = ferroflow_sdk::registry::Client::from_env()?;
//! let prompt = client.load_prompt("prompts:/qa-prompt@production").await?;
//! let text = prompt.format([("question", "What is MLflow?"), ("style", "a pirate")])?;
//! # Ok(()) }
//! ```
//!
//! Loads are cached by the [`Client`]: a version forever (versions never change), an alias for
//! `Config::prompt_alias_ttl` (60 s by default). `format` fails with
//! [`Error::MissingVariable`] naming the `{{variable}}` that was not given.

use std::collections::BTreeMap;
use std::fmt::Display;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::registry::{Client, ModelVersion};

pub(crate) const IS_PROMPT_TAG: &str = "mlflow.prompt.is_prompt";
const TEXT_TAG: &str = "mlflow.prompt.text";
const TYPE_TAG: &str = "_mlflow_prompt_type";
const RESPONSE_FORMAT_TAG: &str = "_mlflow_prompt_response_format";
const MODEL_CONFIG_TAG: &str = "_mlflow_prompt_model_config";
/// The `source` of every prompt version (the reference server accepts no other).
const PROMPT_SOURCE: &str = "dummy-source";

/// One message of a chat prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage { role: role.into(), content: content.into() }
    }
}

/// A prompt's template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptTemplate {
    Text(String),
    Chat(Vec<ChatMessage>),
}

impl PromptTemplate {
    fn kind(&self) -> &'static str {
        match self {
            PromptTemplate::Text(_) => "text",
            PromptTemplate::Chat(_) => "chat",
        }
    }

    fn wire_text(&self) -> String {
        match self {
            PromptTemplate::Text(text) => text.clone(),
            PromptTemplate::Chat(messages) => ferroflow_proto::encoding::python_json(messages),
        }
    }

    /// The `{{variables}}` of the template, in order of first use.
    pub fn variables(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let mut add = |text: &str| {
            for (_, _, name) in placeholders(text) {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
            }
        };
        match self {
            PromptTemplate::Text(text) => add(text),
            PromptTemplate::Chat(messages) => messages.iter().for_each(|m| add(&m.content)),
        }
        names
    }
}

/// A formatted prompt, ready for an LLM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormattedPrompt {
    Text(String),
    Chat(Vec<ChatMessage>),
}

impl FormattedPrompt {
    /// The text (for a chat prompt, the messages' contents joined by newlines).
    pub fn text(&self) -> String {
        match self {
            FormattedPrompt::Text(text) => text.clone(),
            FormattedPrompt::Chat(messages) => {
                messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n")
            }
        }
    }
}

/// One version of a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub name: String,
    pub version: u64,
    pub template: PromptTemplate,
    pub commit_message: String,
    /// The version's tags other than MLflow's own prompt tags.
    pub tags: BTreeMap<String, String>,
    pub aliases: Vec<String>,
    /// JSON text of the response format, if one was registered.
    pub response_format: Option<String>,
    /// JSON text of the model config, if one was registered.
    pub model_config: Option<String>,
}

impl Prompt {
    /// `prompts:/<name>/<version>`.
    pub fn uri(&self) -> String {
        format!("prompts:/{}/{}", self.name, self.version)
    }

    /// Fills every `{{variable}}`; a variable with no value is an error, never left in.
    pub fn format<K: AsRef<str>, V: Display>(
        &self,
        values: impl IntoIterator<Item = (K, V)>,
    ) -> Result<FormattedPrompt> {
        let values: Vec<(String, String)> =
            values.into_iter().map(|(k, v)| (k.as_ref().to_string(), v.to_string())).collect();
        let fill = |text: &str| -> Result<String> {
            let mut out = String::with_capacity(text.len());
            let mut last = 0;
            for (start, end, name) in placeholders(text) {
                let value = values
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v)
                    .ok_or_else(|| Error::MissingVariable { prompt: self.uri(), variable: name.to_string() })?;
                out.push_str(&text[last..start]);
                out.push_str(value);
                last = end;
            }
            out.push_str(&text[last..]);
            Ok(out)
        };
        Ok(match &self.template {
            PromptTemplate::Text(text) => FormattedPrompt::Text(fill(text)?),
            PromptTemplate::Chat(messages) => FormattedPrompt::Chat(
                messages
                    .iter()
                    .map(|m| Ok(ChatMessage::new(m.role.clone(), fill(&m.content)?)))
                    .collect::<Result<_>>()?,
            ),
        })
    }

    fn from_version(version: ModelVersion) -> Result<Prompt> {
        let mut tags = version.tags;
        if tags.get(IS_PROMPT_TAG).map(String::as_str) != Some("true") {
            return Err(Error::NotAPrompt { name: version.name });
        }
        let text = tags.remove(TEXT_TAG).unwrap_or_default();
        let template = match tags.remove(TYPE_TAG).as_deref() {
            Some("chat") => PromptTemplate::Chat(serde_json::from_str(&text).map_err(|err| Error::Protocol {
                url: format!("prompts:/{}/{}", version.name, version.version),
                message: format!("chat template is not a JSON list of messages: {err}"),
            })?),
            _ => PromptTemplate::Text(text),
        };
        tags.remove(IS_PROMPT_TAG);
        let response_format = tags.remove(RESPONSE_FORMAT_TAG);
        let model_config = tags.remove(MODEL_CONFIG_TAG);
        Ok(Prompt {
            version: version.version.parse().map_err(|_| Error::Protocol {
                url: format!("prompts:/{}", version.name),
                message: format!("version {:?} is not a number", version.version),
            })?,
            name: version.name,
            template,
            commit_message: version.description,
            tags,
            aliases: version.aliases,
            response_format,
            model_config,
        })
    }
}

/// `{{ name }}` placeholders of a template: (start, end, name), with MLflow's rule for names
/// (`[a-zA-Z_][a-zA-Z0-9_]*`, dotted parts allowed). Anything else between braces is text.
fn placeholders(text: &str) -> Vec<(usize, usize, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{").map(|i| i + from) {
        let Some(close) = text[open + 2..].find("}}").map(|i| i + open + 2) else {
            break;
        };
        let name = text[open + 2..close].trim();
        let valid = !name.is_empty()
            && name.split('.').all(|part| {
                let mut chars = part.chars();
                chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if valid {
            found.push((open, close + 2, name));
            from = close + 2;
        } else {
            from = open + 1;
        }
    }
    found
}

/// Where a prompt URI points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptRef {
    Version { name: String, version: u64 },
    Alias { name: String, alias: String },
}

impl PromptRef {
    /// Parses `prompts:/name/3` or `prompts:/name@alias` (`@latest` is the newest version).
    pub fn parse(uri: &str) -> Result<PromptRef> {
        let bad = |reason: &str| Error::InvalidPromptUri { uri: uri.to_string(), reason: reason.to_string() };
        let rest = uri.strip_prefix("prompts:/").ok_or_else(|| bad("it must start with `prompts:/`"))?;
        let valid_name =
            |name: &str| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if let Some((name, alias)) = rest.split_once('@') {
            if !valid_name(name) || alias.is_empty() || alias.contains('/') {
                return Err(bad("expected `prompts:/<name>@<alias>`"));
            }
            return Ok(PromptRef::Alias { name: name.to_string(), alias: alias.to_string() });
        }
        let (name, version) = rest
            .split_once('/')
            .ok_or_else(|| bad("expected `prompts:/<name>/<version>` or `prompts:/<name>@<alias>`"))?;
        if !valid_name(name) {
            return Err(bad("the name may use letters, digits, `_`, `.` and `-` only"));
        }
        let version = version
            .parse::<u64>()
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| bad("the version must be a positive integer"))?;
        Ok(PromptRef::Version { name: name.to_string(), version })
    }
}

impl Client {
    /// Checks the registered model is a prompt (the Python client does the same).
    async fn check_is_prompt(&self, name: &str) -> Result<()> {
        let model = self.get_registered_model(name).await?;
        if model.is_prompt() {
            Ok(())
        } else {
            Err(Error::NotAPrompt { name: name.to_string() })
        }
    }

    /// Loads `prompts:/name/<version>` or `prompts:/name@<alias>` (cached, see the module docs).
    ///
    /// Inside a trace, the version is linked to the trace as the Python client does: trace tag
    /// and span attribute `mlflow.linkedPrompts`, and `link-prompts` after the trace is sent.
    pub async fn load_prompt(&self, uri: &str) -> Result<Prompt> {
        let prompt = self.load_prompt_untraced(uri).await?;
        crate::tracer::link_prompt(&prompt.name, prompt.version);
        Ok(prompt)
    }

    async fn load_prompt_untraced(&self, uri: &str) -> Result<Prompt> {
        match PromptRef::parse(uri)? {
            PromptRef::Version { name, version } => {
                if let Some(prompt) = self.cached_version(&name, version) {
                    return Ok(prompt);
                }
                self.check_is_prompt(&name).await?;
                let prompt = Prompt::from_version(self.get_model_version(&name, &version.to_string()).await?)?;
                self.remember(&prompt, None);
                Ok(prompt)
            }
            PromptRef::Alias { name, alias } => {
                if let Some(prompt) = self.cached_alias(&name, &alias) {
                    return Ok(prompt);
                }
                self.check_is_prompt(&name).await?;
                let prompt = Prompt::from_version(self.get_model_version_by_alias(&name, &alias).await?)?;
                self.remember(&prompt, Some(&alias));
                Ok(prompt)
            }
        }
    }

    /// Registers a new version of a prompt (creating the prompt on first use), like
    /// `mlflow.genai.register_prompt`. `tags` go on the prompt (when created) and the version.
    pub async fn register_prompt(
        &self,
        name: &str,
        template: PromptTemplate,
        commit_message: &str,
        tags: &[(String, String)],
    ) -> Result<Prompt> {
        match self.get_registered_model(name).await {
            Ok(model) if !model.is_prompt() => return Err(Error::NotAPrompt { name: name.to_string() }),
            Ok(_) => {}
            Err(err) if err.is_not_found() => {
                let mut model_tags = vec![(IS_PROMPT_TAG.to_string(), "true".to_string())];
                model_tags.extend(tags.iter().cloned());
                match self.create_registered_model(name, &model_tags, commit_message).await {
                    Ok(_) => {}
                    // Registered by someone else meanwhile: add a version to it.
                    Err(err) if err.error_code() == Some(crate::ErrorCode::ResourceAlreadyExists) => {}
                    Err(err) => return Err(err),
                }
            }
            Err(err) => return Err(err),
        }
        let mut version_tags: Vec<(String, String)> = tags.to_vec();
        version_tags.push((IS_PROMPT_TAG.to_string(), "true".to_string()));
        version_tags.push((TYPE_TAG.to_string(), template.kind().to_string()));
        version_tags.push((TEXT_TAG.to_string(), template.wire_text()));
        let version = self.create_model_version(name, PROMPT_SOURCE, &version_tags, commit_message).await?;
        let prompt = Prompt::from_version(version)?;
        self.remember(&prompt, None);
        Ok(prompt)
    }

    /// Points `alias` of a prompt at `version` (`mlflow.genai.set_prompt_alias`).
    pub async fn set_prompt_alias(&self, name: &str, alias: &str, version: u64) -> Result<()> {
        let version = version.to_string();
        let found = self.get_model_version(name, &version).await?;
        if found.tags.get(IS_PROMPT_TAG).map(String::as_str) != Some("true") {
            return Err(Error::NotAPrompt { name: name.to_string() });
        }
        self.set_registered_model_alias(name, alias, &version).await
    }

    /// Removes an alias of a prompt.
    pub async fn delete_prompt_alias(&self, name: &str, alias: &str) -> Result<()> {
        self.delete_registered_model_alias(name, alias).await
    }

    /// Prompts matching `filter` (an MLflow registered-model filter such as
    /// `name LIKE 'qa%'`, or empty), up to `max_results`. Returns the registered models; load a
    /// version with [`Client::load_prompt`].
    pub async fn search_prompts(
        &self,
        filter: &str,
        max_results: usize,
    ) -> Result<Vec<crate::registry::RegisteredModel>> {
        let mut full = format!("tags.`{IS_PROMPT_TAG}` = 'true'");
        if !filter.trim().is_empty() {
            full.push_str(" AND ");
            full.push_str(filter.trim());
        }
        self.search_registered_models(&full, max_results).await
    }

    /// Deletes one version of a prompt.
    pub async fn delete_prompt_version(&self, name: &str, version: u64) -> Result<()> {
        let request = ferroflow_proto::registry::ModelVersionRef {
            name: Some(name.to_string()),
            version: Some(version.to_string()),
        };
        self.send(Method::DELETE, "/model-versions/delete", crate::registry::body(&request)).await?;
        self.clear_cache();
        Ok(())
    }
}

/// The process-wide client (from the environment), for the free functions below.
fn global_client() -> Result<&'static Client> {
    static CLIENT: std::sync::OnceLock<std::result::Result<Client, String>> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| Client::from_env().map_err(|err| err.to_string()))
        .as_ref()
        .map_err(|message| Error::Config(message.clone()))
}

/// [`Client::load_prompt`] on a client made from the environment (shared, so its cache is too).
pub async fn load_prompt(uri: &str) -> Result<Prompt> {
    global_client()?.load_prompt(uri).await
}

/// [`Client::register_prompt`] on the environment's client.
pub async fn register_prompt(
    name: &str,
    template: PromptTemplate,
    commit_message: &str,
    tags: &[(String, String)],
) -> Result<Prompt> {
    global_client()?.register_prompt(name, template, commit_message, tags).await
}

/// [`Client::set_prompt_alias`] on the environment's client.
pub async fn set_prompt_alias(name: &str, alias: &str, version: u64) -> Result<()> {
    global_client()?.set_prompt_alias(name, alias, version).await
}

/// [`Client::search_prompts`] on the environment's client.
pub async fn search_prompts(filter: &str, max_results: usize) -> Result<Vec<crate::registry::RegisteredModel>> {
    global_client()?.search_prompts(filter, max_results).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(template: PromptTemplate) -> Prompt {
        Prompt {
            name: "qa".into(),
            version: 3,
            template,
            commit_message: String::new(),
            tags: BTreeMap::new(),
            aliases: Vec::new(),
            response_format: None,
            model_config: None,
        }
    }

    #[test]
    fn uris_parse() {
        assert_eq!(
            PromptRef::parse("prompts:/qa-prompt/3").unwrap(),
            PromptRef::Version { name: "qa-prompt".into(), version: 3 }
        );
        assert_eq!(
            PromptRef::parse("prompts:/qa.prompt_1@production").unwrap(),
            PromptRef::Alias { name: "qa.prompt_1".into(), alias: "production".into() }
        );
        for bad in ["qa/3", "prompts:/qa", "prompts:/qa/0", "prompts:/qa/x", "prompts:/q a/1", "prompts:/qa@"] {
            assert!(matches!(PromptRef::parse(bad), Err(Error::InvalidPromptUri { .. })), "{bad}");
        }
    }

    #[test]
    fn format_fills_and_fails_on_missing() {
        let text = prompt(PromptTemplate::Text("Q: {{question}}\nStyle: {{ style }} {{ not valid }} {{a.b}}".into()));
        assert_eq!(text.template.variables(), ["question", "style", "a.b"]);
        let out = text.format([("question", "why?"), ("style", "terse"), ("a.b", "x"), ("unused", "u")]).unwrap();
        assert_eq!(out, FormattedPrompt::Text("Q: why?\nStyle: terse {{ not valid }} x".into()));
        let err = text.format([("question", "why?")]).unwrap_err();
        assert_eq!(err.to_string(), "prompt \"prompts:/qa/3\" needs a value for {{style}}, which was not given");
        assert_eq!(err.error_code(), Some(crate::ErrorCode::InvalidParameterValue));

        let chat = prompt(PromptTemplate::Chat(vec![
            ChatMessage::new("system", "You are a {{persona}}."),
            ChatMessage::new("user", "{{question}}"),
        ]));
        let out = chat.format([("persona", "pirate"), ("question", "hi")]).unwrap();
        assert_eq!(out.text(), "You are a pirate.\nhi");
        assert!(chat.format([("persona", "pirate")]).is_err());
    }

    #[test]
    fn chat_template_wire_text_is_pythons() {
        let chat = PromptTemplate::Chat(vec![ChatMessage::new("system", "You are a {{persona}}.")]);
        assert_eq!(chat.wire_text(), r#"[{"role": "system", "content": "You are a {{persona}}."}]"#);
    }
}
