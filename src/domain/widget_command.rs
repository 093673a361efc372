//! Commands a tenant's backend (or dashboard) sends to live widgets: open or close the chat, show a
//! notification, change settings for the page view, or hand an analytics event to the page.

use super::{ContactId, ParseError, WidgetConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest command `data`, serialised: commands are UI nudges, not a transport for documents.
pub const MAX_COMMAND_DATA_BYTES: usize = 8 * 1024;

/// One command, as the widget receives it: `{"command": "<name>", "data": {…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", content = "data", rename_all = "snake_case")]
pub enum WidgetCommand {
    /// Opens the chat panel, optionally showing a message from the team first.
    OpenChat(OpenChat),
    /// Closes the chat panel.
    CloseChat(Empty),
    /// Shows a short notice next to the launcher.
    ShowNotification(ShowNotification),
    /// Merges these settings into the widget's configuration for the current page view.
    UpdateSettings(Map<String, Value>),
    /// Hands an analytics event to the page (`dataLayer` and a DOM event).
    TrackEvent(TrackEvent),
}

/// A command without data (`{}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// What `open_chat` carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenChat {
    /// Shown in the panel as a line from the team (not stored in the conversation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 1000)]
    pub message: Option<String>,
}

/// How loudly a notification asks for attention.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// A quiet notice.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Announced assertively to screen readers and styled to stand out.
    High,
}

/// What `show_notification` carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShowNotification {
    /// The notice.
    #[schema(min_length = 1, max_length = 500)]
    pub text: String,
    /// How loudly.
    #[serde(default)]
    pub priority: Priority,
}

/// What `track_event` carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackEvent {
    /// The event's name, e.g. `trial_started`.
    #[schema(pattern = r"^[A-Za-z0-9_.:-]{1,100}$")]
    pub name: String,
    /// Anything the page's analytics should get with it.
    #[serde(default)]
    pub properties: Map<String, Value>,
}

/// Which widgets of a license a command reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandTarget {
    /// Every widget socket of the license.
    All,
    /// Every socket (tab) of one visitor.
    Visitor(ContactId),
}

impl CommandTarget {
    /// Whether a socket of `visitor` is addressed.
    pub fn reaches(&self, visitor: &ContactId) -> bool {
        match self {
            Self::All => true,
            Self::Visitor(id) => id == visitor,
        }
    }
}

impl WidgetCommand {
    /// The command's wire name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::OpenChat(_) => "open_chat",
            Self::CloseChat(_) => "close_chat",
            Self::ShowNotification(_) => "show_notification",
            Self::UpdateSettings(_) => "update_settings",
            Self::TrackEvent(_) => "track_event",
        }
    }

    /// Checks texts and names; `update_settings` must leave `current` a valid configuration.
    pub fn validate(self, current: &Value) -> Result<Self, ParseError> {
        match &self {
            Self::OpenChat(OpenChat { message: Some(message) }) => check_text("data.message", message, 1000)?,
            Self::ShowNotification(notification) => check_text("data.text", &notification.text, 500)?,
            Self::TrackEvent(event) => {
                let ok = !event.name.is_empty()
                    && event.name.len() <= 100
                    && event.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
                if !ok {
                    return Err(ParseError("data.name must be 1–100 letters, digits or _.:-".into()));
                }
            }
            Self::UpdateSettings(partial) => {
                let mut merged = current.clone();
                merge_json(&mut merged, &Value::Object(partial.clone()));
                let config: WidgetConfig =
                    serde_json::from_value(merged).map_err(|e| ParseError(format!("update_settings: {e}")))?;
                config.validate().map_err(|e| ParseError(format!("update_settings: {e}")))?;
            }
            Self::OpenChat(_) | Self::CloseChat(_) => {}
        }
        Ok(self)
    }

    /// Its encoded size, when over [`MAX_COMMAND_DATA_BYTES`].
    pub fn oversized(&self) -> Option<usize> {
        let size = serde_json::to_string(self).map(|s| s.len()).unwrap_or(usize::MAX);
        (size > MAX_COMMAND_DATA_BYTES).then_some(size)
    }
}

/// Deep-merges `patch` into `base`: objects key by key, anything else replaced (a JSON merge patch
/// without deletions).
pub fn merge_json(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                merge_json(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), ParseError> {
    if value.trim().is_empty() {
        return Err(ParseError(format!("{field} is empty")));
    }
    if value.chars().count() > max {
        return Err(ParseError(format!("{field} is longer than {max} characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaults() -> Value {
        serde_json::to_value(WidgetConfig::default()).unwrap_or_default()
    }

    #[test]
    fn commands_read_the_documents_shape_and_check_their_data() {
        let command: WidgetCommand = serde_json::from_value(
            json!({"command": "show_notification", "data": {"text": "Sale!", "priority": "high"}}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(command.name(), "show_notification");
        assert!(command.validate(&defaults()).is_ok());
        let blank = WidgetCommand::ShowNotification(ShowNotification { text: " ".into(), priority: Priority::Low });
        assert!(blank.validate(&defaults()).is_err());
    }

    #[test]
    fn settings_must_leave_a_valid_configuration() {
        let good = WidgetCommand::UpdateSettings(
            json!({"title": "Hi", "utm": {"captureTerm": false}}).as_object().cloned().unwrap_or_default(),
        );
        assert!(good.validate(&defaults()).is_ok());
        let bad =
            WidgetCommand::UpdateSettings(json!({"primaryColor": "blue"}).as_object().cloned().unwrap_or_default());
        assert!(bad.validate(&defaults()).is_err());
        let unknown = WidgetCommand::UpdateSettings(json!({"nope": 1}).as_object().cloned().unwrap_or_default());
        assert!(unknown.validate(&defaults()).is_err());
    }

    #[test]
    fn merging_keeps_what_the_patch_does_not_name() {
        let mut base = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_json(&mut base, &json!({"b": {"c": 9}, "e": 5}));
        assert_eq!(base, json!({"a": 1, "b": {"c": 9, "d": 3}, "e": 5}));
    }
}
